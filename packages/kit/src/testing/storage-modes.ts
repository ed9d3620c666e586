import { testEnvironment, type TestEnvironment } from './environment.ts';

/** Where services keep their data: PGlite in a folder, or the real PostgreSQL server. */
export type StorageMode = 'embedded' | 'postgres';

/** A real server that a suite's `postgres` mode runs against. */
export type RealServer = 'postgres' | 'redis' | 'amqp';

export interface StorageModeCase {
  mode: StorageMode;
  /** What the mode runs on, as test names say it: "… on embedded storage", "… on PostgreSQL, Redis and RabbitMQ". */
  storage: string;
}

const SERVERS: Record<RealServer, { name: string; url: (environment: TestEnvironment) => string | undefined }> = {
  postgres: { name: 'PostgreSQL', url: (environment) => environment.postgresUrl },
  redis: { name: 'Redis', url: (environment) => environment.redisUrl },
  amqp: { name: 'RabbitMQ', url: (environment) => environment.amqpUrl },
};

function listed(names: string[]): string {
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/**
 * The storage modes to run a suite in, as `describe.each(storageModes([...]))('on $storage', ({ mode }) => ...)`:
 * embedded always, and postgres when every real server it needs is given. Under CI the global setup fails the run when
 * a `TEST_*` server is missing, so CI always runs both; a developer without the servers runs the embedded mode alone.
 */
export function storageModes(
  servers: readonly ['postgres', ...Exclude<RealServer, 'postgres'>[]],
  environment: TestEnvironment = testEnvironment,
): StorageModeCase[] {
  const modes: StorageModeCase[] = [{ mode: 'embedded', storage: 'embedded storage' }];
  if (servers.every((server) => SERVERS[server].url(environment) !== undefined)) {
    modes.push({ mode: 'postgres', storage: listed(servers.map((server) => SERVERS[server].name)) });
  }
  return modes;
}
