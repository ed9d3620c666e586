import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { MigrationObject } from '@mikro-orm/core';
import { parse, type DocumentNode } from 'graphql';
import type { SubgraphConfig } from './config.ts';
import { openDatabase, type Database, type DatabaseOptions, type EntityManager } from './database.ts';
import { ErrorCode, formatClientError } from './errors.ts';
import { Health } from './health.ts';
import { createHttpServer, graphqlRoute, healthRoutes, HttpError, listen, type RunningHttpServer } from './http.ts';
import { verifyIdentity, type Identity } from './identity.ts';
import { createLogger, type Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { createPubSub, type PubSub } from './pubsub.ts';

/** What every resolver of every subgraph receives. */
export interface SubgraphContext<Loaders, Services> {
  requestId: string;
  identity: Identity;
  /** This request's own unit of work; nothing leaks between requests. */
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

const identityFailureMessages = {
  missing: 'Requests must come through the gateway',
  'bad-signature': 'Identity signature is invalid',
  expired: 'Identity signature has expired',
  malformed: 'Identity header is malformed',
} as const;

/**
 * Starts a subgraph: database (with migrations), pub/sub, Apollo Server with `buildSubgraphSchema`,
 * health and metrics, all on one HTTP port. The returned `close()` drains and releases everything.
 */
export async function startSubgraph<Loaders, Services>(
  definition: SubgraphDefinition<Loaders, Services>,
  config: SubgraphConfig,
): Promise<RunningSubgraph<Services>> {
  const logger = createLogger({ name: config.serviceName, level: config.logLevel });
  const metrics = new Metrics(config.serviceName);
  const database = await openDatabase({
    serviceName: config.serviceName,
    url: config.databaseUrl,
    embeddedDirectory: config.dataDir,
    entities: definition.entities,
    migrations: definition.migrations,
    metrics,
    logger,
  });
  const pubsub = createPubSub(config.redisUrl, logger);
  const runtime: SubgraphRuntime = { config, database, pubsub, logger, metrics };
  const services = definition.createServices(runtime);

  const apollo = new ApolloServer<SubgraphContext<Loaders, Services>>({
    schema: buildSubgraphSchema({ typeDefs: definition.typeDefs, resolvers: definition.resolvers as GraphQLResolverMap<unknown> }),
    formatError: (formatted, error) => {
      const safe = formatClientError(formatted);
      if (safe.extensions?.code === ErrorCode.InternalServerError) logger.error({ err: error }, 'resolver failed');
      return safe;
    },
    includeStacktraceInErrorResponses: false,
    // Inline traces only feed Apollo Studio, which this platform does not use.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), metrics.apolloPlugin()],
  });
  await apollo.start();

  const context = async (req: IncomingMessage, requestId: string): Promise<SubgraphContext<Loaders, Services>> => {
    const verification = verifyIdentity((name) => header(req, name), config.internalSecret);
    if (!verification.ok) throw new HttpError(401, ErrorCode.Unauthenticated, identityFailureMessages[verification.reason]);
    const em = database.fork();
    return {
      requestId,
      identity: verification.identity,
      em,
      loaders: definition.createLoaders(em, verification.identity),
      services,
      logger: logger.child({ requestId }),
    };
  };

  const checks: Record<string, () => Promise<void>> = { database: () => database.ping() };
  if (config.redisUrl) checks.redis = () => pubsub.ping();
  const health = new Health(config.serviceName, checks);
  const server = createHttpServer({
    logger,
    metrics,
    routes: [healthRoutes(health, metrics), graphqlRoute({ apollo, context })],
  });

  let http: RunningHttpServer;
  try {
    http = await listen(server, config.port, config.host);
  } catch (error) {
    await Promise.allSettled([apollo.stop(), pubsub.close(), database.close()]);
    throw error;
  }
  logger.info({ url: `${http.url}/graphql`, database: database.mode, pubsub: config.redisUrl ? 'redis' : 'in-memory' }, 'subgraph ready');

  return {
    ...runtime,
    services,
    health,
    url: http.url,
    graphqlUrl: `${http.url}/graphql`,
    async close() {
      health.startDraining();
      await http.close(config.shutdownTimeoutMs);
      await apollo.stop();
      await pubsub.close();
      await database.close();
      logger.info('subgraph stopped');
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
