import { mkdir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { ProcessLock } from '../platform/process-lock.ts';
import { lockEmbeddedDatabase } from './embedded-database-lock.ts';

/**
 * PostgreSQL extensions an embedded database loads, which PGlite ships as separate bundles: a subgraph opts in, so the
 * others start no slower. Loading makes an extension available (listed in `pg_available_extensions`); a migration still
 * has to `create extension` it, as on a real server.
 */
export type EmbeddedExtension = 'vector';

export const embeddedExtensionBundles = { vector } as const;

export interface SharedEmbeddedPostgresOptions {
  /** The folder of the one PGlite cluster; locked to this process while it is open. */
  directory: string;
  /** Names this process for whoever is refused the folder, e.g. "the embedded subgraphs host". */
  holder: string;
  /**
   * How long a connection may keep the engine in an open transaction (or half-way through an extended-protocol
   * exchange) without sending anything while others wait: past it, its transaction is rolled back and its connection
   * closed, as PostgreSQL's `idle_in_transaction_session_timeout` does. @default 15000
   */
  idleInTransactionTimeoutMs?: number;
}

/** PostgreSQL's identifiers as this server accepts them for a database: its role and schema are named alike. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

const quoted = (identifier: string) => `"${identifier}"`;

/** A simple-query ('Q') message. */
function queryMessage(sql: string): Buffer {
  const text = Buffer.from(`${sql}\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('Q', 0, 'latin1');
  header.writeInt32BE(text.length + 4, 1);
  return Buffer.concat([header, text]);
}

const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

/** A backend ErrorResponse ('E') with severity, SQLSTATE and message. */
function errorMessage(severity: 'ERROR' | 'FATAL', code: string, message: string): Buffer {
  const fields = Buffer.from(`S${severity}\0V${severity}\0C${code}\0M${message}\0\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0, 'latin1');
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

/** The backend messages in `output`: each one's type and, for ReadyForQuery, the transaction status it reports. */
function lastMessage(output: Buffer): { type: string; status?: string; error: string | undefined } | undefined {
  let offset = 0;
  let last: { type: string; status?: string; error: string | undefined } | undefined;
  let error: string | undefined;
  while (offset + 5 <= output.length) {
    const type = String.fromCharCode(output[offset]!);
    const length = output.readInt32BE(offset + 1);
    if (type === 'E') error = output.subarray(offset + 5, offset + 1 + length).toString('utf8');
    last = { type, status: type === 'Z' ? String.fromCharCode(output[offset + 5]!) : undefined, error };
    offset += 1 + length;
  }
  return last;
}

/** Runs protocol messages on PGlite's one session, and returns all it answered. */
async function executeOn(db: PGlite, message: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await db.runExclusive(() =>
    db.execProtocolRawStream(new Uint8Array(message.buffer, message.byteOffset, message.length), {
      onRawData: (bytes) => chunks.push(Buffer.from(bytes)),
    }),
  );
  return Buffer.concat(chunks);
}

function startupMessage(parameters: Record<string, string>): Buffer {
  const body = Buffer.from(
    `${Object.entries(parameters)
      .flatMap((entry) => entry)
      .join('\0')}\0\0`,
    'utf8',
  );
  const header = Buffer.alloc(8);
  header.writeInt32BE(body.length + 8, 0);
  header.writeInt32BE(PROTOCOL_3, 4);
  return Buffer.concat([header, body]);
}

/** A client connection: one pooled connection of one service, speaking to its own database. */
class Client {
  buffer: Buffer = Buffer.alloc(0);
  /** Complete messages received and not yet run. */
  pending: Buffer[] = [];
  started = false;
  closed = false;
  database: string | undefined;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(readonly socket: Socket) {}

  send(bytes: Buffer): void {
    if (bytes.length > 0 && !this.closed && this.socket.writable) this.socket.write(bytes);
  }
}

/**
 * One embedded PostgreSQL (one PGlite cluster) serving the databases of several services of one process, each as if it
 * had a server of its own: the embedded default of a process hosting many subgraphs, where a PGlite per service costs
 * some 200 MB and an initdb each.
 *
 * PGlite runs one backend in single-user mode: one database, one session. So each service's "database" is a schema
 * owned by a role of the same name, which only that role may use; the server speaks the PostgreSQL protocol on a local
 * port to any number of connections, and lends the one session to one connection at a time, switching role and `search_path` to that connection's service (the user it
 * logs in as, to the cluster's one database `postgres`) first. A
 * connection keeps the session from its first message until the backend is idle again (ReadyForQuery 'I'): a whole
 * transaction, or a whole extended-protocol exchange, never interleaves with another's (PgBouncer's transaction pooling).
 * Unqualified names thus resolve in the service's own schema, its migrations table included, and a service that names
 * another's table is refused (permission denied for schema).
 */
export class SharedEmbeddedPostgres {
  private readonly clients = new Set<Client>();
  /** Clients with messages to run, oldest first. */
  private readonly ready: Client[] = [];
  /** The client in the middle of a transaction or an extended-protocol exchange: the only one that may run. */
  private holder: Client | undefined;
  private draining = false;
  /** The database whose role and search_path the session has now. */
  private current: string | undefined;
  private readonly provisioned = new Map<string, Promise<void>>();

  private constructor(
    private readonly db: PGlite,
    private readonly server: Server,
    private readonly lock: ProcessLock,
    private readonly idleInTransactionTimeoutMs: number,
    /** What PGlite answers a startup message (authentication ok, its parameters, ready for query), said to each client. */
    private readonly startupReply: Buffer,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  static async start(options: SharedEmbeddedPostgresOptions): Promise<SharedEmbeddedPostgres> {
    const directory = resolve(options.directory);
    await mkdir(directory, { recursive: true });
    const lock = await lockEmbeddedDatabase(directory, options.holder);
    try {
      // Every bundle the kit knows, since which services ask for which is known only as they open their databases.
      const db = await PGlite.create({ dataDir: directory, extensions: { ...embeddedExtensionBundles } });
      const server = createServer();
      server.maxConnections = 1000;
      try {
        await new Promise<void>((listening, failed) => {
          server.once('error', failed);
          server.listen(0, '127.0.0.1', () => listening());
        });
      } catch (error) {
        await db.close();
        throw error;
      }
      const startupReply = await executeOn(db, startupMessage({ user: 'postgres', database: 'postgres' }));
      return new SharedEmbeddedPostgres(db, server, lock, options.idleInTransactionTimeoutMs ?? 15_000, startupReply);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** Where the server listens, as `host:port`. */
  get address(): string {
    const { port } = this.server.address() as { port: number };
    return `127.0.0.1:${port}`;
  }

  /**
   * Creates, once, the role and schema of `database` (with the extensions it asks for, installed where every
   * service's search_path reaches them), and returns the URL its `pg` clients connect with.
   */
  async provision(database: string, extensions: readonly EmbeddedExtension[] = []): Promise<string> {
    if (!DATABASE_NAME.test(database)) throw new Error(`"${database}" is not a database name this server accepts (${DATABASE_NAME})`);
    let done = this.provisioned.get(database);
    if (!done) {
      const name = quoted(database);
      done = this.runAsServer(
        [
          `do $$ begin if not exists (select from pg_roles where rolname = '${database}') then create role ${name} nologin; end if; end $$`,
          `create schema if not exists ${name} authorization ${name}`,
          `revoke all on schema ${name} from public`,
          // PostgreSQL 15 and later create nothing in public for PUBLIC; said again in case the cluster is older.
          `revoke create on schema public from public`,
          ...extensions.map((extension) => `create extension if not exists ${extension} schema public`),
        ].join(';\n'),
      );
      this.provisioned.set(database, done);
      done.catch(() => this.provisioned.delete(database));
    }
    await done;
    // The cluster's one database, as the service's own role: PGlite has one, and the ORM checks that it exists.
    return `postgresql://${database}@${this.address}/postgres`;
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.socket.destroy();
    await new Promise<void>((closed) => this.server.close(() => closed()));
    try {
      await this.db.close();
    } finally {
      await this.lock.release();
    }
  }

  /** Runs `sql` as the server itself (the cluster's superuser), between two clients' turns. */
  private async runAsServer(sql: string): Promise<void> {
    const output = await this.whenIdle(() => this.execute(queryMessage(`reset role; set search_path to public;\n${sql}`)));
    this.current = undefined;
    const last = lastMessage(output);
    if (last?.error) throw new Error(`the shared embedded database refused: ${last.error.replaceAll('\0', ' ').trim()}`);
  }

  /** Runs `work` once no client holds the session. */
  private whenIdle<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((done, failed) => {
      this.serverWork.push(() => work().then(done, failed));
      this.drain();
    });
  }

  private readonly serverWork: (() => Promise<void>)[] = [];

  private execute(message: Buffer): Promise<Buffer> {
    return executeOn(this.db, message);
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const client = new Client(socket);
    this.clients.add(client);
    socket.on('data', (chunk) => this.receive(client, chunk));
    socket.on('error', () => this.disconnect(client));
    socket.on('close', () => this.disconnect(client));
  }

  private receive(client: Client, chunk: Buffer): void {
    if (client.closed) return;
    client.buffer = client.buffer.length === 0 ? chunk : Buffer.concat([client.buffer, chunk]);
    let queued = false;
    while (!client.closed) {
      if (!client.started) {
        if (client.buffer.length < 8) break;
        const length = client.buffer.readInt32BE(0);
        if (client.buffer.length < length) break;
        const code = client.buffer.readInt32BE(4);
        const message = client.buffer.subarray(0, length);
        client.buffer = client.buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          client.send(Buffer.from('N'));
        } else if (code === CANCEL_REQUEST) {
          this.refuse(client, '0A000', 'cancel requests are not supported by the shared embedded database');
        } else if (code === PROTOCOL_3) {
          this.startup(client, message);
        } else {
          this.refuse(client, '08P01', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`);
        }
        continue;
      }
      if (client.buffer.length < 5) break;
      const length = 1 + client.buffer.readInt32BE(1);
      if (client.buffer.length < length) break;
      const message = client.buffer.subarray(0, length);
      client.buffer = client.buffer.subarray(length);
      if (message[0] === 0x58 /* Terminate */) {
        client.socket.end();
        this.disconnect(client);
        break;
      }
      client.pending.push(Buffer.from(message));
      queued = true;
    }
    if (queued && client.pending.length > 0) {
      this.clearIdleTimer(client);
      if (!this.ready.includes(client)) this.ready.push(client);
      this.drain();
    }
  }

  private startup(client: Client, message: Buffer): void {
    const parameters = message.subarray(8).toString('utf8').split('\0');
    const values = new Map<string, string>();
    for (let index = 0; index + 1 < parameters.length; index += 2) values.set(parameters[index]!, parameters[index + 1]!);
    const database = values.get('user') ?? '';
    if (!this.provisioned.has(database)) {
      this.refuse(client, '28000', `role "${database}" is not a database this server serves`);
      return;
    }
    if ((values.get('database') ?? database) !== 'postgres') {
      this.refuse(
        client,
        '3D000',
        `database "${values.get('database')}" does not exist (each service's database is its role's schema in "postgres")`,
      );
      return;
    }
    client.database = database;
    client.started = true;
    // At once, not after the engine's current work: a connection is open as soon as it is accepted, as on a server,
    // and only its statements wait their turn.
    client.send(this.startupReply);
  }

  private refuse(client: Client, code: string, message: string): void {
    client.send(errorMessage('FATAL', code, message));
    client.socket.end();
    this.disconnect(client);
  }

  private disconnect(client: Client): void {
    if (client.closed) return;
    client.closed = true;
    client.pending = [];
    this.clearIdleTimer(client);
    this.clients.delete(client);
    const index = this.ready.indexOf(client);
    if (index >= 0) this.ready.splice(index, 1);
    if (this.holder === client) this.drain();
  }

  private clearIdleTimer(client: Client): void {
    if (client.idleTimer) clearTimeout(client.idleTimer);
    client.idleTimer = undefined;
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    void this.runTurns().finally(() => {
      this.draining = false;
      if (this.hasWork()) this.drain();
    });
  }

  private hasWork(): boolean {
    if (this.holder) return this.holder.closed || this.holder.pending.length > 0;
    return this.serverWork.length > 0 || this.ready.length > 0;
  }

  private async runTurns(): Promise<void> {
    while (this.hasWork()) {
      const holder = this.holder;
      if (holder?.closed) {
        // Its connection went away half-way: whatever it left open is rolled back, as a server does for a lost session.
        this.holder = undefined;
        this.current = undefined;
        // A failure here (the engine closing) leaves nothing to roll back.
        await this.execute(Buffer.concat([SYNC, queryMessage('rollback')])).catch(() => undefined);
        continue;
      }
      if (!holder && this.serverWork.length > 0) {
        await this.serverWork.shift()!();
        continue;
      }
      const client = holder ?? this.ready.shift()!;
      const queuedAt = this.ready.indexOf(client);
      if (queuedAt >= 0) this.ready.splice(queuedAt, 1);
      const messages = Buffer.concat(client.pending);
      client.pending = [];
      try {
        if (!holder && this.current !== client.database) {
          const name = quoted(client.database!);
          const switched = lastMessage(
            await this.execute(queryMessage(`set session authorization default; set role ${name}; set search_path to ${name}, public`)),
          );
          if (switched?.error) throw new Error(switched.error);
          this.current = client.database;
        }
        const output = await this.execute(messages);
        client.send(output);
        const last = lastMessage(output);
        if (last?.type === 'Z') this.holder = last.status === 'I' ? undefined : client;
        else if (output.length > 0) this.holder = client;
      } catch {
        this.holder = undefined;
        this.current = undefined;
        client.send(errorMessage('FATAL', 'XX000', 'the shared embedded database failed to run this connection'));
        client.socket.destroy();
        this.disconnect(client);
        continue;
      }
      if (this.holder === client) this.startIdleTimer(client);
    }
  }

  /** A holder that stays silent while others wait loses its transaction and its connection. */
  private startIdleTimer(client: Client): void {
    this.clearIdleTimer(client);
    client.idleTimer = setTimeout(() => {
      client.idleTimer = undefined;
      if (this.holder !== client || client.closed) return;
      if (this.ready.length === 0 && this.serverWork.length === 0) {
        this.startIdleTimer(client);
        return;
      }
      this.refuse(client, '25P03', 'terminating connection due to idle-in-transaction timeout (the shared embedded database)');
    }, this.idleInTransactionTimeoutMs);
    client.idleTimer.unref();
  }
}

/** Embedded databases served by a shared server instead of a PGlite of their own, by the folder each would have. */
const sharedDatabases = new Map<string, { server: SharedEmbeddedPostgres; database: string }>();

/**
 * From now on, the embedded database a service of this process would keep in `directory` (`openDatabase`'s
 * `embeddedDirectory`/`serviceName`) is the database `database` of `server` instead. Returns what undoes it, for a
 * process that outlives the server (a test runner's worker).
 */
export function serveEmbeddedDatabase(directory: string, server: SharedEmbeddedPostgres, database: string): () => void {
  const key = resolve(directory);
  const served = { server, database };
  sharedDatabases.set(key, served);
  return () => {
    if (sharedDatabases.get(key) === served) sharedDatabases.delete(key);
  };
}

/** The shared server and database standing for the embedded database in `embeddedDirectory`/`serviceName`, if any. */
export function sharedEmbeddedDatabase(
  embeddedDirectory: string,
  serviceName: string,
): { server: SharedEmbeddedPostgres; database: string } | undefined {
  return sharedDatabases.get(resolve(join(embeddedDirectory, serviceName)));
}
