import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { MigrationObject } from '@mikro-orm/core';
import {
  GraphQLError,
  parse,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLResolveInfo,
  type GraphQLScalarType,
} from 'graphql';
import type { Environment, SubgraphConfig } from '../platform/config.ts';
import {
  openDatabase,
  statementCounter,
  type Database,
  type DatabaseOptions,
  type EmbeddedExtension,
  type EntityManager,
} from '../storage/database.ts';
import { ErrorCode, formatClientError } from '../platform/errors.ts';
import { Health } from '../platform/health.ts';
import {
  createHttpServer,
  graphqlRoute,
  healthRoutes,
  HttpError,
  listen,
  type RouteHandler,
  type RunningHttpServer,
} from '../platform/http.ts';
import { verifyIdentity, type Identity } from '../platform/identity.ts';
import { tenantFork } from '../storage/tenant-scope.ts';
import { createLogger, defaultLogFormat, type Logger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { createPubSub, type PubSub } from '../messaging/pubsub.ts';
import { serveSubscriptions } from './subscriptions.ts';
import { createEventBus, type EventBus } from '../messaging/event-bus.ts';
import { runMain, type Stoppable } from '../platform/lifecycle.ts';
import { createTelemetry, graphqlSpanPlugin, tracedRoute, type Telemetry } from '../platform/telemetry.ts';

/** What every resolver of every subgraph receives. */
export interface SubgraphContext<Loaders, Services> {
  requestId: string;
  identity: Identity;
  /** The caller's address as the gateway saw it (signed with the identity); unset for calls between services. */
  clientAddress: string | undefined;
  /** The caller's `User-Agent` as the gateway signed it; unset for calls between services. */
  userAgent: string | undefined;
  /** This request's own unit of work, scoped to the caller's tenant (see tenant-scope.ts); nothing leaks between requests. */
  em: EntityManager;
  /** Created per request, so batching and caching never cross callers. */
  loaders: Loaders;
  services: Services;
  logger: Logger;
}

/** The shared runtime a service's domain code is built on. */
export interface SubgraphRuntime {
  config: SubgraphConfig;
  database: Database;
  pubsub: PubSub;
  /** Domain events between services: RabbitMQ with AMQP_URL set, in-process otherwise. */
  eventBus: EventBus;
  logger: Logger;
  metrics: Metrics;
  /** The service's traces: its tracer is active in its requests, its background work and its consumers. */
  telemetry: Telemetry;
  /** The time the service's own work goes by (expiries, throttling windows, schedules), in ms since the epoch like `Date.now`. */
  clock: () => number;
}

/** A resolver function as graphql-codegen types it, taking (parent, args, context, info) or (parent, context, info). */
type ResolverFunction<Context> =
  | ((parent: never, args: never, context: Context, info: GraphQLResolveInfo) => unknown)
  | ((parent: never, context: Context, info: GraphQLResolveInfo) => unknown);

type FieldResolver<Context> =
  | ResolverFunction<Context>
  | { resolve: ResolverFunction<Context>; subscribe?: ResolverFunction<Context> }
  | { subscribe: ResolverFunction<Context>; resolve?: ResolverFunction<Context> };

/** A type's own keys: codegen's resolver maps also carry an index signature (`useIndexSignature`), which lets anything through. */
type Declared<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

/**
 * What graphql-codegen's `Resolvers` must be to run with `Context`: for each type, a scalar, or resolvers (functions or
 * `{ resolve, subscribe }` objects, `__resolveReference`, `__resolveType`) that expect `Context`. Codegen has checked
 * them against the schema; what is left to check is that they expect the context the kit gives them.
 */
export type ResolversExpecting<Resolvers, Context> = {
  [Type in keyof Declared<Resolvers>]: Declared<Resolvers>[Type] extends GraphQLScalarType | undefined
    ? Declared<Resolvers>[Type]
    : { [Field in keyof Declared<NonNullable<Declared<Resolvers>[Type]>>]: FieldResolver<Context> | undefined } | undefined;
};

/** Everything a service is: its schema and resolvers, its storage, its services and the work it does beside the API. */
export interface SubgraphSpec<Config extends { subgraph: SubgraphConfig }, Loaders, Services, Resolvers extends object = object> {
  /** As the topology names the service; its logs and metrics go by it. */
  name: string;
  /** The subgraph's `schema.graphql`. */
  schema: URL;
  /** Reads the service's configuration from `env` (the process environment when omitted). */
  config(env?: Environment): Config;
  entities: DatabaseOptions['entities'];
  migrations: MigrationObject[];
  /** PostgreSQL extensions the embedded database loads for this service (see {@link EmbeddedExtension}). @default [] */
  embeddedExtensions?: readonly EmbeddedExtension[];
  /** Codegen's `Resolvers`, whose context type is this subgraph's `SubgraphContext<Loaders, Services>`. */
  resolvers: Resolvers & ResolversExpecting<Resolvers, NoInfer<SubgraphContext<Loaders, Services>>>;
  createLoaders(em: EntityManager, identity: Identity): Loaders;
  /**
   * Also holds what background work needs (queues, relays), so that it reaches them through `services`. Give it typed
   * parameters, or none (a function declared elsewhere, `() => …`): from an arrow function whose parameters TypeScript
   * must type itself, it infers `Services` too late for the resolvers' check, which then fails against `unknown`.
   */
  createServices(runtime: SubgraphRuntime, config: Config): Services;
  /** Work beside the API (queue consumers, relays, timers), started once the server listens and stopped before it closes. */
  background?(runtime: SubgraphRuntime, services: NoInfer<Services>, config: Config): Promise<Stoppable>;
  /** Dependencies readiness must check beyond the database and brokers, e.g. a work queue. */
  healthChecks?(services: NoInfer<Services>): Record<string, () => Promise<void>>;
  /**
   * HTTP routes of the service's own beside GraphQL, health and metrics, on the same port, e.g. inbound webhooks. They
   * are public: the gateway does not proxy them and no identity is verified for them, so each authenticates its callers.
   */
  routes?(services: NoInfer<Services>, config: Config): RouteHandler[];
  /** Background work that can also run without the API, in processes of its own (see {@link runWorker}). */
  worker?: WorkerSpec<Config, NoInfer<Services>>;
}

export interface WorkerSpec<Config, Services> {
  /** Starts the work; the returned close() stops it, waiting for work in flight. */
  start(runtime: SubgraphRuntime, services: Services, config: Config): Promise<Stoppable>;
}

export interface StartSubgraphOptions {
  /** The clock the age of signed identities is judged by. @default Date.now */
  now?: () => number;
  /** The service's {@link SubgraphRuntime.clock}, for tests that move time. @default Date.now */
  clock?: () => number;
}

/** A service defined by {@link defineSubgraph}: what it is, and how to start it. */
export interface Subgraph<Config extends { subgraph: SubgraphConfig }, Loaders, Services> extends SubgraphSpec<Config, Loaders, Services> {
  typeDefs: DocumentNode;
  /** Starts the API (and its background work), configured from `env` (the process environment when omitted). */
  start(env?: Environment, options?: StartSubgraphOptions): Promise<RunningSubgraph<Services>>;
}

export interface SubgraphWithWorker<Config extends { subgraph: SubgraphConfig }, Loaders, Services> extends Subgraph<
  Config,
  Loaders,
  Services
> {
  worker: WorkerSpec<Config, Services>;
  /** Starts a worker process's work without the API, configured from `env` (the process environment when omitted). */
  startWorker(env?: Environment): Promise<RunningWorker>;
}

/** One definition per service: the kit loads its schema, and starts the API or a worker from it. */
export function defineSubgraph<Config extends { subgraph: SubgraphConfig }, Loaders, Services, Resolvers extends object>(
  spec: SubgraphSpec<Config, Loaders, Services, Resolvers> & { worker: WorkerSpec<Config, NoInfer<Services>> },
): SubgraphWithWorker<Config, Loaders, Services>;
export function defineSubgraph<Config extends { subgraph: SubgraphConfig }, Loaders, Services, Resolvers extends object>(
  spec: SubgraphSpec<Config, Loaders, Services, Resolvers>,
): Subgraph<Config, Loaders, Services>;
export function defineSubgraph<Config extends { subgraph: SubgraphConfig }, Loaders, Services, Resolvers extends object>(
  spec: SubgraphSpec<Config, Loaders, Services, Resolvers>,
): Subgraph<Config, Loaders, Services> | SubgraphWithWorker<Config, Loaders, Services> {
  const subgraph: Subgraph<Config, Loaders, Services> = {
    ...spec,
    typeDefs: parse(readFileSync(spec.schema, 'utf8')),
    start: async (env, options) => startSubgraph(subgraph, spec.config(env), options),
  };
  const { worker } = spec;
  if (!worker) return subgraph;
  return { ...subgraph, worker, startWorker: async (env) => startWorker(subgraph, worker, spec.config(env)) };
}

/**
 * A literal one of the kit's scalars refused (a `DateTime` written in the document) is reported by graphql-js as a
 * validation error; the value, not the document, is at fault, as for the same value in a variable: BAD_USER_INPUT.
 */
function scalarRefusalAsBadInput(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  if (formatted.extensions?.code !== ErrorCode.GraphQLValidationFailed || !(error instanceof GraphQLError)) return formatted;
  const original = error.originalError;
  if (!(original instanceof GraphQLError) || original.extensions.code !== ErrorCode.BadUserInput) return formatted;
  return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.BadUserInput } };
}

/** A subgraph's entry point: starts it from the process environment, and stops it on SIGTERM or SIGINT (see {@link runMain}). */
export function runSubgraph<Config extends { subgraph: SubgraphConfig }, Loaders, Services>(
  subgraph: Subgraph<Config, Loaders, Services>,
  env?: Environment,
): Promise<void> {
  return runMain(() => subgraph.start(env));
}

/** A worker process's entry point, as {@link runSubgraph} is the API's. */
export function runWorker<Config extends { subgraph: SubgraphConfig }, Loaders, Services>(
  subgraph: SubgraphWithWorker<Config, Loaders, Services>,
  env?: Environment,
): Promise<void> {
  return runMain(() => subgraph.startWorker(env));
}

export interface RunningSubgraph<Services> extends SubgraphRuntime {
  url: string;
  graphqlUrl: string;
  services: Services;
  health: Health;
  close(): Promise<void>;
}

/** Response header with the number of SQL statements a request cost (not sent in production). */
export const STATEMENTS_HEADER = 'x-database-statements';

const identityFailureMessages = {
  missing: 'Requests must come through the gateway',
  'bad-signature': 'Identity signature is invalid',
  expired: 'Identity signature has expired',
  malformed: 'Identity header is malformed',
} as const;

/** Logging, metrics, the database (migrated), pub/sub and the event bus: what both API and worker processes run on. */
async function openRuntime(
  config: SubgraphConfig,
  name: string,
  storage: Pick<DatabaseOptions, 'entities' | 'migrations' | 'embeddedExtensions'>,
  clock: () => number = Date.now,
): Promise<SubgraphRuntime> {
  const logger = createLogger({ name, level: config.logLevel, format: config.logFormat ?? defaultLogFormat(config.nodeEnv) });
  const metrics = new Metrics(name);
  const telemetry = createTelemetry(config.tracing);
  const database = await openDatabase({
    serviceName: config.serviceName,
    url: config.databaseUrl,
    lockTimeoutMs: config.databaseLockTimeoutMs,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    idleInTransactionTimeoutMs: config.databaseIdleInTransactionTimeoutMs,
    embeddedDirectory: config.dataDir,
    entities: storage.entities,
    migrations: storage.migrations,
    embeddedExtensions: storage.embeddedExtensions,
    metrics,
    logger,
  });
  const pubsub = createPubSub(config.redisUrl, logger, { prefix: `${config.redisNamespace}:` });
  const eventBus = createEventBus(config.amqpUrl, logger, config.amqpNamespace);
  return { config, database, pubsub, eventBus, logger, metrics, telemetry, clock };
}

/** Readiness checks the database and every broker that is configured, over real connections. */
function dependencyChecks({ config, database, pubsub, eventBus }: SubgraphRuntime): Record<string, () => Promise<void>> {
  const checks: Record<string, () => Promise<void>> = { database: () => database.ping() };
  if (config.redisUrl) checks.redis = () => pubsub.ping();
  if (config.amqpUrl) checks.rabbitmq = () => eventBus.ping();
  return checks;
}

/**
 * Starts a subgraph: database (with migrations), pub/sub, Apollo Server with `buildSubgraphSchema`,
 * health and metrics, all on one HTTP port. The returned `close()` drains and releases everything.
 */
async function startSubgraph<Config extends { subgraph: SubgraphConfig }, Loaders, Services>(
  definition: Subgraph<Config, Loaders, Services>,
  settings: Config,
  options: StartSubgraphOptions = {},
): Promise<RunningSubgraph<Services>> {
  const config = settings.subgraph;
  const now = options.now ?? Date.now;
  const runtime = await openRuntime(config, definition.name, definition, options.clock);
  const { logger, metrics, database, pubsub, eventBus, telemetry } = runtime;
  const services = telemetry.run(() => definition.createServices(runtime, settings));

  // Codegen's resolver types are stricter than Apollo's map, which takes any function for any field.
  const resolvers = definition.resolvers as GraphQLResolverMap<unknown>;
  const schema = buildSubgraphSchema({ typeDefs: definition.typeDefs, resolvers });
  const apollo = new ApolloServer<SubgraphContext<Loaders, Services>>({
    schema,
    formatError: (formatted, error) => {
      const safe = formatClientError(scalarRefusalAsBadInput(formatted, error), error);
      if (safe.extensions?.code === ErrorCode.InternalServerError) logger.error({ err: error }, 'resolver failed');
      else if (safe.extensions?.code === ErrorCode.BadUserInput && formatted.extensions?.code !== ErrorCode.BadUserInput)
        logger.warn({ err: error, path: formatted.path }, 'resolver failed: the database refused a value it was given');
      // The client hears only that it may retry; the log says which dependency failed, and how.
      else if (safe.extensions?.code !== formatted.extensions?.code) {
        logger.warn({ err: error, path: formatted.path }, 'resolver failed: a dependency is unavailable');
      }
      return safe;
    },
    includeStacktraceInErrorResponses: false,
    // runMain stops the subgraph on SIGTERM and SIGINT, draining requests and closing the database. Apollo's own handler
    // (on by default outside NODE_ENV=test) would re-raise the signal once Apollo stopped, killing the process halfway.
    stopOnTerminationSignals: false,
    // Inline traces only feed Apollo Studio, which this platform does not use.
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      metrics.apolloPlugin(),
      ...(telemetry.tracer ? [graphqlSpanPlugin<SubgraphContext<Loaders, Services>>()] : []),
      {
        async requestDidStart() {
          return {
            async willSendResponse({ response }) {
              const unit = statementCounter.getStore();
              if (!unit) return;
              metrics.requestStatements.observe(unit.count);
              // Outside production, clients (tests, benchmarks) can see a request's SQL cost directly.
              if (config.nodeEnv !== 'production') response.http.headers.set(STATEMENTS_HEADER, String(unit.count));
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  const contextFor = (
    identity: Identity,
    requestId: string,
    clientAddress?: string,
    userAgent?: string,
  ): SubgraphContext<Loaders, Services> => {
    const em = tenantFork(database, identity);
    return {
      requestId,
      identity,
      clientAddress,
      userAgent,
      em,
      loaders: definition.createLoaders(em, identity),
      services,
      logger: logger.child({ requestId }),
    };
  };
  const context = async (req: IncomingMessage, requestId: string): Promise<SubgraphContext<Loaders, Services>> => {
    const verification = verifyIdentity((name) => header(req, name), config.internalSecret, now());
    if (!verification.ok) throw new HttpError(401, ErrorCode.Unauthenticated, identityFailureMessages[verification.reason]);
    return contextFor(verification.identity, requestId, verification.clientAddress, verification.userAgent);
  };

  const health = new Health(config.serviceName, { ...dependencyChecks(runtime), ...definition.healthChecks?.(services) });
  const graphql = graphqlRoute({ apollo, context });
  const countedGraphql: RouteHandler = tracedRoute(telemetry, '/graphql', (req, res, url) =>
    statementCounter.run({ count: 0 }, () => graphql(req, res, url)),
  );
  const server = createHttpServer({
    logger,
    metrics,
    routes: [healthRoutes(health, metrics), ...(definition.routes?.(services, settings) ?? []), countedGraphql],
  });

  const subscriptions = schema.getSubscriptionType()
    ? serveSubscriptions({
        server,
        schema,
        internalSecret: config.internalSecret,
        logger,
        context: (identity) => contextFor(identity, randomUUID()),
      })
    : undefined;

  let http: RunningHttpServer;
  try {
    http = await listen(server, config.port, config.host);
  } catch (error) {
    await Promise.allSettled([apollo.stop(), pubsub.close(), eventBus.close(), database.close(), telemetry.shutdown()]);
    throw error;
  }
  const background = await telemetry.run(() => definition.background?.(runtime, services, settings));
  logger.info({ url: `${http.url}/graphql`, database: database.mode, pubsub: config.redisUrl ? 'redis' : 'in-memory' }, 'subgraph ready');

  return {
    ...runtime,
    services,
    health,
    url: http.url,
    graphqlUrl: `${http.url}/graphql`,
    async close() {
      health.startDraining();
      await subscriptions?.close();
      await http.close(config.shutdownTimeoutMs);
      await apollo.stop();
      await background?.close();
      await pubsub.close();
      await eventBus.close();
      await database.close();
      await telemetry.shutdown();
      logger.info('subgraph stopped');
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export interface RunningWorker extends SubgraphRuntime {
  url: string;
  health: Health;
  close(): Promise<void>;
}

/**
 * A process that does a service's background work without serving its API: the same runtime as
 * {@link startSubgraph} (database, pub/sub, event bus), with health and metrics on its own port.
 */
async function startWorker<Config extends { subgraph: SubgraphConfig }, Loaders, Services>(
  definition: Subgraph<Config, Loaders, Services>,
  worker: WorkerSpec<Config, Services>,
  settings: Config,
): Promise<RunningWorker> {
  const config = settings.subgraph;
  const runtime = await openRuntime(config, `${definition.name}-worker`, definition);
  const { logger, metrics, database, pubsub, eventBus, telemetry } = runtime;
  const health = new Health(`${config.serviceName}-worker`, dependencyChecks(runtime));
  // The port first, as a subgraph binds it before its background work: a second process started by mistake with the
  // same host and port (whose worker id, by default, is this one's) fails here, before its start-up takes over the
  // attempts this live process holds as if they were a dead predecessor's.
  let http: RunningHttpServer;
  try {
    http = await listen(createHttpServer({ logger, metrics, routes: [healthRoutes(health, metrics)] }), config.port, config.host);
  } catch (error) {
    await Promise.allSettled([pubsub.close(), eventBus.close(), database.close(), telemetry.shutdown()]);
    throw error;
  }
  let work: Stoppable;
  try {
    work = await telemetry.run(() => worker.start(runtime, definition.createServices(runtime, settings), settings));
  } catch (error) {
    await Promise.allSettled([http.close(0), pubsub.close(), eventBus.close(), database.close(), telemetry.shutdown()]);
    throw error;
  }
  logger.info({ url: http.url }, 'worker ready');
  return {
    ...runtime,
    url: http.url,
    health,
    async close() {
      health.startDraining();
      await work.close();
      await http.close(config.shutdownTimeoutMs);
      await pubsub.close();
      await eventBus.close();
      await database.close();
      await telemetry.shutdown();
      logger.info('worker stopped');
    },
  };
}
