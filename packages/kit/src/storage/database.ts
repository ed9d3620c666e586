import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { LogContext, Logger as OrmLogger, LoggerNamespace, MigrationObject } from '@mikro-orm/core';
import { Migrator, type Migration } from '@mikro-orm/migrations';
import { MikroORM, type EntityManager, type Options } from '@mikro-orm/postgresql';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import { recordStatement } from '../platform/telemetry.ts';
import { releaseLostConnections } from './database-pool.ts';
import { lockEmbeddedDatabase } from './embedded-database-lock.ts';
import { embeddedExtensionBundles, sharedEmbeddedDatabase, type EmbeddedExtension } from './shared-embedded-postgres.ts';
import { TenantWriteGuard } from './tenant-scope.ts';

export type { EntityManager } from '@mikro-orm/postgresql';

export type { EmbeddedExtension } from './shared-embedded-postgres.ts';

export interface DatabaseOptions {
  serviceName: string;
  /**
   * A PostgreSQL URL; unset means an embedded PGlite database kept under {@link embeddedDirectory}, or, where this
   * process serves that folder's database from a shared embedded server (`serveEmbeddedDatabase`), a database there.
   */
  url: string | undefined;
  /** Where an embedded database keeps its files. */
  embeddedDirectory: string;
  entities: NonNullable<Options['entities']>;
  migrations: MigrationObject[];
  metrics: Metrics;
  logger: Logger;
  /** @default 10 for PostgreSQL, 4 for the embedded database (whose engine runs one statement at a time) */
  poolSize?: number;
  /**
   * How long a statement may wait for a connection, whether being opened or freed by another request. Past it the
   * statement fails as an outage (SERVICE_UNAVAILABLE to clients) instead of hanging on a server that drops packets.
   * @default 5000; 60000 on a shared embedded server, which drops nothing: there a wait is the queue of the other services'
   * statements and transactions, which a busy machine's start-up (every service migrating at once) makes long.
   */
  connectTimeoutMs?: number;
  /** Extensions the embedded database loads (ignored on PostgreSQL, whose server has what it has). @default [] */
  embeddedExtensions?: readonly EmbeddedExtension[];
  /**
   * How long a statement may wait for one lock on PostgreSQL before the server gives up on it (SQLSTATE 55P03,
   * `lock_not_available`); 0 leaves the server's own setting. Without one, a statement queued behind a lock that is
   * held for long holds up every caller queued behind it: a request, a worker, a lane of a group commit. A lock wait is
   * transient, so it fails as an outage (SERVICE_UNAVAILABLE to a client, a retry for a consumer). Not applied to the
   * embedded database, which runs one statement at a time and has no other sessions to wait for; nor to migrations.
   * @default 10000
   */
  lockTimeoutMs?: number;
  /**
   * How long one statement may run on PostgreSQL before the server cancels it (SQLSTATE 57014, `query_canceled`): a
   * backstop for a statement that runs away, reported as the internal error it is rather than retried. 0 leaves the
   * server's own setting. Not applied to the embedded database, nor to migrations (an index or a backfill on a large
   * table may take longer).
   * @default 60000
   */
  statementTimeoutMs?: number;
  /**
   * How long a session may sit idle inside a transaction before PostgreSQL ends it (SQLSTATE 25P03), rolling the
   * transaction back and freeing its locks, so that a holder that stalls (a process frozen mid-transaction, a lost
   * reply) cannot keep others out of those rows for good; 0 leaves the server's own setting. Long enough for the
   * transactions that wait on a third party inside (billing's Stripe calls: 3 attempts of up to 20 s). Not applied to
   * the embedded database.
   * @default 120000
   */
  idleInTransactionTimeoutMs?: number;
}

const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
const DEFAULT_STATEMENT_TIMEOUT_MS = 60_000;
const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS = 120_000;

/**
 * The service's migrations, each run with the pool's lock and statement timeouts lifted for its transaction: a
 * migration may rightly wait for its table's lock behind traffic, or rewrite a large table, and a start-up that fails
 * half-way through migrating helps no one.
 */
function withoutStatementLimits(migrations: MigrationObject[]): MigrationObject[] {
  return migrations.map(({ name, class: Base }) => {
    const Unlimited = class extends (Base as unknown as new (
      ...args: never[]
    ) => Pick<Migration, 'addSql'> & { up(): void | Promise<void> }) {
      override async up(): Promise<void> {
        this.addSql('set local lock_timeout = 0');
        this.addSql('set local statement_timeout = 0');
        await super.up();
      }
    };
    return { name, class: Unlimited as unknown as MigrationObject['class'] };
  });
}

export interface Database {
  readonly orm: MikroORM;
  readonly mode: 'postgres' | 'embedded';
  /**
   * A fresh EntityManager with its own identity map and no tenant scope: its first query of a tenant-owned entity
   * fails. Scope it with `tenantFork(database, identity)` (a request) or `systemFork(database)` (work across tenants).
   */
  fork(): EntityManager;
  /** Resolves when the database answers a statement. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The SQL statements of one unit of work (a GraphQL request), however many DataLoader batches and
 * resolvers it spreads over: what shows an N+1 as it happens.
 */
export const statementCounter = new AsyncLocalStorage<{ count: number }>();

/**
 * Counts every SQL statement MikroORM sends, which is how tests and benchmarks prove that a list of
 * federated entities costs one query, not one per entity.
 */
class CountingLogger implements OrmLogger {
  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}
  log(namespace: string, message: string): void {
    this.logger.debug({ namespace }, message);
  }
  error(namespace: string, message: string): void {
    this.logger.error({ namespace }, message);
  }
  warn(namespace: string, message: string): void {
    this.logger.warn({ namespace }, message);
  }
  logQuery(context: LogContext): void {
    this.metrics.databaseQueries.inc();
    const unit = statementCounter.getStore();
    if (unit) unit.count += 1;
    if (context.query) recordStatement(context.query, context.took, context.level === 'error');
    if (this.logger.isLevelEnabled('trace')) this.logger.trace({ sql: context.query, tookMs: context.took }, 'sql');
  }
  setDebugMode(): void {}
  isEnabled(namespace: LoggerNamespace): boolean {
    return namespace === 'query';
  }
}

interface EmbeddedServer {
  url: string;
  close(): Promise<void>;
}

async function startEmbeddedPostgres(
  directory: string,
  serviceName: string,
  extensions: readonly EmbeddedExtension[],
): Promise<EmbeddedServer> {
  const dataDir = resolve(directory);
  await mkdir(dataDir, { recursive: true });
  const lock = await lockEmbeddedDatabase(directory, `the ${serviceName} service`);
  try {
    const db = await PGlite.create({
      dataDir,
      extensions: Object.fromEntries(extensions.map((name) => [name, embeddedExtensionBundles[name]])),
    });
    // The socket server lets the same `pg` driver talk to PGlite, so the embedded default runs the same
    // SQL, migrations and connection handling as production.
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 8 });
    await server.start().catch(async (error: unknown) => {
      await db.close();
      throw error;
    });
    return {
      url: `postgresql://postgres@${server.getServerConn()}/postgres`,
      async close() {
        try {
          await server.stop();
          await db.close();
        } finally {
          await lock.release();
        }
      },
    };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

const SHARED_EMBEDDED_CONNECT_TIMEOUT_MS = 60_000;

/** What an embedded database is made of, for preparing its folder before it is first opened. */
export type EmbeddedStorage = Pick<DatabaseOptions, 'entities' | 'migrations' | 'embeddedExtensions'>;

/** Puts a database into `directory` for `serviceName` before it is opened, unless one is there already. */
export type EmbeddedDatabaseSeeder = (directory: string, serviceName: string, storage: EmbeddedStorage) => Promise<void>;

let embeddedDatabaseSeeder: EmbeddedDatabaseSeeder | undefined;

/**
 * Lets a test suite hand every embedded database opened in this process a ready folder (a copy of a migrated template)
 * instead of creating PGlite's cluster and running every migration, which is most of a subgraph's start-up. Set once,
 * by the test runner's setup file; a service never sets it.
 */
export function seedEmbeddedDatabasesWith(seeder: EmbeddedDatabaseSeeder | undefined): void {
  embeddedDatabaseSeeder = seeder;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const shared = options.url ? undefined : sharedEmbeddedDatabase(options.embeddedDirectory, options.serviceName);
  if (!options.url && !shared) await embeddedDatabaseSeeder?.(options.embeddedDirectory, options.serviceName, options);
  const embedded =
    options.url || shared
      ? undefined
      : await startEmbeddedPostgres(
          join(options.embeddedDirectory, options.serviceName),
          options.serviceName,
          options.embeddedExtensions ?? [],
        );
  const clientUrl = options.url ?? (shared ? await shared.server.provision(shared.database, options.embeddedExtensions) : embedded!.url);
  const isEmbedded = Boolean(embedded ?? shared);
  try {
    const orm = await MikroORM.init({
      clientUrl,
      entities: options.entities,
      extensions: [Migrator],
      migrations: {
        migrationsList: withoutStatementLimits(options.migrations),
        snapshot: false,
        silent: true,
        // On a shared embedded server, in the service's own schema (MikroORM names public otherwise), as its tables are.
        ...(shared ? { tableName: `${shared.database}.mikro_orm_migrations` } : {}),
      },
      pool: { max: options.poolSize ?? (isEmbedded ? 4 : 10) },
      // Handed to pg's pool: a connection timeout, without which a server that drops packets is waited for forever,
      // and connections lost mid-transaction given back (see database-pool.ts).
      driverOptions: {
        connectionTimeoutMillis: options.connectTimeoutMs ?? (shared ? SHARED_EMBEDDED_CONNECT_TIMEOUT_MS : 5000),
        onPoolCreated: releaseLostConnections,
        // Session settings pg sends when it connects: every connection of the pool has them from its first statement.
        ...(isEmbedded
          ? {}
          : {
              lock_timeout: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
              statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
              idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS,
            }),
      },
      loggerFactory: () => new CountingLogger(options.metrics, options.logger),
      subscribers: [new TenantWriteGuard()],
      debug: ['query'],
      allowGlobalContext: false,
      ensureDatabase: false,
    });
    const executed = await orm.migrator.up();
    if (executed.length > 0) options.logger.info({ migrations: executed.map((m) => m.name) }, 'applied migrations');
    return {
      orm,
      mode: isEmbedded ? 'embedded' : 'postgres',
      fork: () => orm.em.fork(),
      async ping() {
        await orm.em.getConnection().execute('select 1');
      },
      async close() {
        await orm.close(true);
        await embedded?.close();
      },
    };
  } catch (error) {
    await embedded?.close();
    throw error;
  }
}
