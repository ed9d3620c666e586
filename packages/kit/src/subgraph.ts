import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { MigrationObject } from '@mikro-orm/core';
import { parse, type DocumentNode } from 'graphql';
import type { SubgraphConfig } from './config.ts';
import { openDatabase, statementCounter, type Database, type DatabaseOptions, type EntityManager } from './database.ts';
import { ErrorCode, formatClientError } from './errors.ts';
import { Health } from './health.ts';
import { createHttpServer, graphqlRoute, healthRoutes, HttpError, listen, type RouteHandler, type RunningHttpServer } from './http.ts';
import { verifyIdentity, type Identity } from './identity.ts';
import { tenantFork } from './tenant-scope.ts';
import { createLogger, defaultLogFormat, type Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { createPubSub, type PubSub } from './pubsub.ts';
import { serveSubscriptions } from './subscriptions.ts';
import { createEventBus, type EventBus } from './event-bus.ts';
import type { Stoppable } from './lifecycle.ts';

/** What every resolver of every subgraph receives. */
export interface SubgraphContext<Loaders, Services> {
  requestId: string;
  identity: Identity;
  /** The caller's address as the gateway saw it (signed with the identity); unset for calls between services. */
  clientAddress: string | undefined;
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
}

export interface SubgraphDefinition<Loaders, Services> {
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<SubgraphContext<Loaders, Services>>;
  entities: DatabaseOptions['entities'];
  migrations: MigrationObject[];
  createServices(runtime: SubgraphRuntime): Services;
  createLoaders(em: EntityManager, identity: Identity): Loaders;
  /** Work beside the API (queue consumers, relays, timers), started once the server listens and stopped before it closes. */
  background?(runtime: SubgraphRuntime, services: Services): Promise<Stoppable>;
  /** Dependencies readiness must check beyond the database and brokers, e.g. a work queue. */
  healthChecks?(services: Services): Record<string, () => Promise<void>>;
}

export interface RunningSubgraph<Services> extends SubgraphRuntime {
  url: string;
  graphqlUrl: string;
  services: Services;
  health: Health;
  close(): Promise<void>;
}

export function loadTypeDefs(schemaFile: URL): DocumentNode {
  return parse(readFileSync(schemaFile, 'utf8'));
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
  storage: { entities: DatabaseOptions['entities']; migrations: MigrationObject[] },
): Promise<SubgraphRuntime> {
  const logger = createLogger({ name, level: config.logLevel, format: config.logFormat ?? defaultLogFormat(config.nodeEnv) });
  const metrics = new Metrics(name);
  const database = await openDatabase({
    serviceName: config.serviceName,
    url: config.databaseUrl,
    embeddedDirectory: config.dataDir,
    entities: storage.entities,
    migrations: storage.migrations,
    metrics,
    logger,
  });
  const pubsub = createPubSub(config.redisUrl, logger, { prefix: `${config.redisNamespace}:` });
  const eventBus = createEventBus(config.amqpUrl, logger, config.amqpNamespace);
  return { config, database, pubsub, eventBus, logger, metrics };
}

/** Readiness checks the database and every broker that is configured, over real connections. */
function dependencyChecks({ config, database, pubsub, eventBus }: SubgraphRuntime): Record<string, () => Promise<void>> {
  const checks: Record<string, () => Promise<void>> = { database: () => database.ping() };
  if (config.redisUrl) checks.redis = () => pubsub.ping();
  if (config.amqpUrl) checks.rabbitmq = () => eventBus.ping();
  return checks;
}

export interface StartSubgraphOptions {
  /** The clock the age of signed identities is judged by. @default Date.now */
  now?: () => number;
}

/**
 * Starts a subgraph: database (with migrations), pub/sub, Apollo Server with `buildSubgraphSchema`,
 * health and metrics, all on one HTTP port. The returned `close()` drains and releases everything.
 */
export async function startSubgraph<Loaders, Services>(
  definition: SubgraphDefinition<Loaders, Services>,
  config: SubgraphConfig,
  options: StartSubgraphOptions = {},
): Promise<RunningSubgraph<Services>> {
  const now = options.now ?? Date.now;
  const runtime = await openRuntime(config, config.serviceName, definition);
  const { logger, metrics, database, pubsub, eventBus } = runtime;
  const services = definition.createServices(runtime);

  const schema = buildSubgraphSchema({ typeDefs: definition.typeDefs, resolvers: definition.resolvers as GraphQLResolverMap<unknown> });
  const apollo = new ApolloServer<SubgraphContext<Loaders, Services>>({
    schema,
    formatError: (formatted, error) => {
      const safe = formatClientError(formatted, error);
      if (safe.extensions?.code === ErrorCode.InternalServerError) logger.error({ err: error }, 'resolver failed');
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

  const contextFor = (identity: Identity, requestId: string, clientAddress?: string): SubgraphContext<Loaders, Services> => {
    const em = tenantFork(database, identity);
    return {
      requestId,
      identity,
      clientAddress,
      em,
      loaders: definition.createLoaders(em, identity),
      services,
      logger: logger.child({ requestId }),
    };
  };
  const context = async (req: IncomingMessage, requestId: string): Promise<SubgraphContext<Loaders, Services>> => {
    const verification = verifyIdentity((name) => header(req, name), config.internalSecret, now());
    if (!verification.ok) throw new HttpError(401, ErrorCode.Unauthenticated, identityFailureMessages[verification.reason]);
    return contextFor(verification.identity, requestId, verification.clientAddress);
  };

  const health = new Health(config.serviceName, { ...dependencyChecks(runtime), ...definition.healthChecks?.(services) });
  const graphql = graphqlRoute({ apollo, context });
  const countedGraphql: RouteHandler = (req, res, url) => statementCounter.run({ count: 0 }, () => graphql(req, res, url));
  const server = createHttpServer({ logger, metrics, routes: [healthRoutes(health, metrics), countedGraphql] });

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
    await Promise.allSettled([apollo.stop(), pubsub.close(), eventBus.close(), database.close()]);
    throw error;
  }
  const background = await definition.background?.(runtime, services);
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
      logger.info('subgraph stopped');
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export interface WorkerDefinition {
  entities: DatabaseOptions['entities'];
  migrations: MigrationObject[];
  /** Starts the work; the returned close() stops it, waiting for work in flight. */
  start(runtime: SubgraphRuntime): Promise<Stoppable>;
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
export async function startWorker(definition: WorkerDefinition, config: SubgraphConfig): Promise<RunningWorker> {
  const runtime = await openRuntime(config, `${config.serviceName}-worker`, definition);
  const { logger, metrics, database, pubsub, eventBus } = runtime;
  const work = await definition.start(runtime);
  const health = new Health(`${config.serviceName}-worker`, dependencyChecks(runtime));
  const http = await listen(createHttpServer({ logger, metrics, routes: [healthRoutes(health, metrics)] }), config.port, config.host);
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
      logger.info('worker stopped');
    },
  };
}
