import type { Pool, PoolClient } from 'pg';

/**
 * Gives back to the pool every connection that dies while checked out, so that a PostgreSQL outage cannot leak them.
 *
 * Kysely (under MikroORM) releases a transaction's connection only after a successful COMMIT or ROLLBACK
 * (kysely-org/kysely#1990). When the server goes away mid-transaction both fail, the connection stays checked out
 * for good, and each outage takes as many connections as it interrupted transactions: once the pool is empty every
 * statement waits out the connection timeout, so the service never recovers, and `pool.end()` (shutdown) never returns.
 *
 * pg reports a dead connection's `'end'` after it has failed the client's queries; releasing it then, with an
 * error, makes the pool discard it. The later release by its holder, if any, is ignored rather than thrown.
 */
export function releaseLostConnections(pool: Pool): void {
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => Promise<PoolClient> | undefined;
  const guardedCheckOut = async (): Promise<PoolClient> => {
    const client = (await connect())!;
    const releaseToPool = client.release.bind(client);
    let released = false;
    const releaseOnce = (error?: Error | boolean) => {
      if (released) return;
      released = true;
      client.off('end', onLost);
      releaseToPool(error);
    };
    const onLost = () => releaseOnce(new Error('the connection was lost while checked out'));
    client.once('end', onLost);
    client.release = releaseOnce;
    return client;
  };
  // Only the promise form is guarded, the one Kysely uses; the callback form is left as it was.
  pool.connect = ((...args: unknown[]) => (args.length > 0 ? connect(...args) : guardedCheckOut())) as Pool['connect'];
}
