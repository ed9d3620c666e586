import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  callSubgraph,
  secretOrDevelopmentDefault,
  serveEmbeddedDatabase,
  SharedEmbeddedPostgres,
  signAccessToken,
  type Environment,
  type Identity,
  type RunningSubgraph,
  type StartSubgraphOptions,
  type Subgraph,
  type SubgraphConfig,
} from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, seedEmptyCluster, testEnvironment } from '@nexusflow/kit/testing';
import { accessTokenIssuerOf, describeService, JWKS_PATH, servicesOf, subgraphRouteVariable, type GraphName } from '@nexusflow/topology';
import { loadGatewayConfig } from '../../gateway/src/config.ts';
import { startGateway, type GatewayRuntimeOptions, type RunningGateway } from '../../gateway/src/gateway.ts';

export type StorageMode = 'embedded' | 'postgres';

/** Nothing listens on the discard port: a service routed there is down, as far as its callers can tell. */
export const CLOSED_PORT_URL = 'http://127.0.0.1:9/graphql';

/**
 * Scratch storage for the services of one test file: embedded, one PGlite cluster serving every service's database, as
 * `npm start` runs them; or a database of its own on the real PostgreSQL per service with the real Redis and RabbitMQ,
 * under a namespace of its own so that test files running in parallel stay apart. `close()` removes everything it made.
 */
export class TestServices {
  private readonly cleanups: (() => Promise<void>)[] = [];
  readonly namespace: string;

  private constructor(
    readonly mode: StorageMode,
    readonly label: string,
    private readonly dataDir: string,
    private readonly redisUrl: string | undefined,
    private readonly embeddedServer: SharedEmbeddedPostgres | undefined,
  ) {
    this.namespace = `nf-test-${label.replaceAll('_', '-')}-${randomBytes(4).toString('hex')}`;
  }

  static async create(mode: StorageMode, label: string, options: { redisUrl?: string } = {}): Promise<TestServices> {
    if (mode === 'postgres' && (!testEnvironment.postgresUrl || !testEnvironment.redisUrl || !testEnvironment.amqpUrl)) {
      throw new Error('postgres mode needs TEST_POSTGRES_URL, TEST_REDIS_URL and TEST_AMQP_URL');
    }
    const dataDir = await createTempDirectory(label);
    try {
      // Opening a PGlite is a second of CPU: a stack of ten services opened ten, where `npm start` opens one.
      const embeddedServer = mode === 'embedded' ? await startEmbeddedServer(join(dataDir.path, 'postgres')) : undefined;
      const services = new TestServices(mode, label, dataDir.path, options.redisUrl ?? testEnvironment.redisUrl, embeddedServer);
      services.onClose(dataDir.remove);
      if (embeddedServer) services.onClose(() => embeddedServer.close());
      return services;
    } catch (error) {
      await dataDir.remove();
      throw error;
    }
  }

  /** Runs at close, after everything registered later. */
  onClose(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /** What a service of this file starts from: quiet, on a free port, on this file's storage. */
  async environmentFor(service: string): Promise<Environment> {
    const base: Environment = { PORT: '0', DATA_DIR: this.dataDir, LOG_LEVEL: 'silent', NODE_ENV: 'test', AMQP_NAMESPACE: this.namespace };
    if (this.embeddedServer) {
      const stopServing = serveEmbeddedDatabase(join(this.dataDir, service), this.embeddedServer, service.replaceAll('-', '_'));
      this.onClose(async () => stopServing());
      return base;
    }
    const database = await createTestDatabase(testEnvironment.postgresUrl!, `${this.label}_${service}`);
    this.onClose(database.drop);
    return { ...base, DATABASE_URL: database.url, REDIS_URL: this.redisUrl, AMQP_URL: testEnvironment.amqpUrl };
  }

  /** Starts a subgraph from its definition; stopped at close. */
  async start<Config extends { subgraph: SubgraphConfig }, Loaders, Services>(
    subgraph: Subgraph<Config, Loaders, Services>,
    env: Environment,
    options: StartSubgraphOptions = {},
  ): Promise<RunningSubgraph<Services>> {
    const running = await subgraph.start(env, options);
    this.onClose(() => running.close());
    return running;
  }

  /** A gateway of `graph` in front of `routes` (SUBGRAPH_<NAME>_URL), with limits loose enough for parallel test files. */
  async startGateway(
    graph: GraphName,
    routes: Environment,
    overrides: Environment = {},
    options: GatewayRuntimeOptions = {},
  ): Promise<RunningGateway> {
    const { env, args } = this.gatewayEnvironment(graph, routes, overrides);
    const gateway = await startGateway(loadGatewayConfig(env, args), options);
    this.onClose(() => gateway.close());
    return gateway;
  }

  /** The environment and arguments a gateway of these services starts with, in this process or another. */
  gatewayEnvironment(graph: GraphName, routes: Environment, overrides: Environment = {}): { env: Environment; args: string[] } {
    const env: Environment = {
      PORT: '0',
      LOG_LEVEL: 'silent',
      NODE_ENV: 'test',
      ...routes,
      // Parallel test files share one Redis and one client address; only the rate-limit tests want tight budgets.
      RATE_LIMIT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_TENANT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000',
      // Test files run in parallel on a busy machine; the shedding test drives the detector itself.
      LOAD_SHEDDING_DELAY_MS: '0',
      // The services' namespace: the gateway reads the sessions auth revokes there, and keeps its budgets apart.
      REDIS_NAMESPACE: this.namespace,
      // Its audit records go out on the services' RabbitMQ, under their namespace; embedded, as under `npm start`, it has
      // no bus of theirs (an in-process one would be shared only because the test runs in one process) and calls audit.
      ...(this.mode === 'postgres' ? { REDIS_URL: this.redisUrl, AMQP_URL: testEnvironment.amqpUrl, AMQP_NAMESPACE: this.namespace } : {}),
      ...overrides,
    };
    return { env, args: ['--graph', graph] };
  }

  async close(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) await cleanup();
  }
}

/** The embedded server of a test file's services, from a copy of an empty cluster rather than PGlite's initdb. */
async function startEmbeddedServer(directory: string): Promise<SharedEmbeddedPostgres> {
  await seedEmptyCluster(directory);
  return SharedEmbeddedPostgres.start({ directory, holder: 'the test services' });
}

type AnySubgraph = Subgraph<{ subgraph: SubgraphConfig }, unknown, unknown>;

/** A service's definition, as its `src/subgraph.ts` exports it. */
export async function definitionOf(graph: GraphName, service: string): Promise<AnySubgraph> {
  const module = (await import(`../../subgraphs/${graph}/${service}/src/subgraph.ts`)) as { subgraph?: AnySubgraph };
  if (!module.subgraph) throw new Error(`subgraphs/${graph}/${service}/src/subgraph.ts exports no \`subgraph\``);
  return module.subgraph;
}

/** A GraphQL URL that forwards each request to `target()`, a service started after its caller; stopped at close. */
async function routeToLater(services: TestServices, target: () => string | undefined): Promise<string> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = target() ?? CLOSED_PORT_URL;
      const headers = Object.entries(request.headers).filter(
        (header): header is [string, string] =>
          typeof header[1] === 'string' && !['host', 'connection', 'content-length'].includes(header[0]),
      );
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
      fetch(new URL(request.url ?? '/', url), { method: request.method, headers, body })
        .then(async (answer) => {
          const contentType = answer.headers.get('content-type');
          response.writeHead(answer.status, contentType ? { 'content-type': contentType } : {});
          response.end(Buffer.from(await answer.arrayBuffer()));
        })
        .catch(() => response.destroy());
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  services.onClose(() => new Promise<void>((closed) => server.close(() => closed())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

/**
 * Starts `names` of `graph` from their definitions with nothing but their defaults, each after the services it calls
 * (which must be started already, in `running`, or among `names`), and adds them to `running`. Services that call none
 * of those still to start start together: start-up is most of a test file's time when it runs a whole graph.
 */
export async function startServices(
  services: TestServices,
  graph: GraphName,
  names: readonly string[],
  running: Record<string, RunningSubgraph<unknown>>,
  /** Settings of some services beyond their defaults, by service (e.g. where a faked third party listens). */
  settings: Readonly<Record<string, Environment>> = {},
): Promise<void> {
  const pending = [...names];
  const start = async (name: string) => {
    const links = Object.fromEntries(
      await Promise.all(
        Object.entries(describeService(graph, name).links).map(async ([variable, called]) => [
          variable,
          running[called]?.graphqlUrl ??
            (pending.includes(called) ? await routeToLater(services, () => running[called]?.graphqlUrl) : CLOSED_PORT_URL),
        ]),
      ),
    );
    running[name] = await services.start(await definitionOf(graph, name), {
      ...(await services.environmentFor(name)),
      ...links,
      ...settings[name],
    });
  };
  while (pending.length > 0) {
    const ready = pending.filter((name) =>
      Object.values(describeService(graph, name).links).every((called) => called in running || !pending.includes(called)),
    );
    // Services that call each other in a circle (billing-service and ledger-mgr): one starts first, reaching the others
    // through routes that forward to them once they run.
    const wave = ready.length > 0 ? ready : [pending[0]!];
    for (const name of wave) pending.splice(pending.indexOf(name), 1);
    // Every start settles before a failure is thrown, so that what did start is stopped at close.
    const failed = (await Promise.allSettled(wave.map(start))).find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** Every service of `graph` routed to where it runs, or to a closed port when it does not. */
export function routesFor(graph: GraphName, running: Record<string, RunningSubgraph<unknown>>): Environment {
  return Object.fromEntries(
    servicesOf(graph).map(({ name }) => [subgraphRouteVariable(name), running[name]?.graphqlUrl ?? CLOSED_PORT_URL]),
  );
}

/** What the issuing service of a graph signs for a user (internal to it, as auth services ask for it). */
const ISSUE_ACCESS_TOKEN = 'mutation ($input: IssueAccessTokenInput!) { issueAccessToken(input: $input) { token } }';

export interface GraphUnderTest {
  gateway: RunningGateway;
  subgraphs: Record<string, RunningSubgraph<unknown>>;
  /** An access token the gateway accepts, as the auth service would sign it for this user. */
  tokenFor(identity: Extract<Identity, { kind: 'user' }>): Promise<string>;
  close(): Promise<void>;
}

/**
 * Some services of one graph, started from their definitions on scratch storage, behind the graph's gateway; the
 * services not started are routed to a closed port, so their fields fail as those of a subgraph that is down.
 */
export async function startGraphUnderTest(
  graph: GraphName,
  names: readonly string[],
  options: { mode?: StorageMode; label: string; settings?: Readonly<Record<string, Environment>> },
): Promise<GraphUnderTest> {
  const services = await TestServices.create(options.mode ?? 'embedded', options.label);
  try {
    const subgraphs: Record<string, RunningSubgraph<unknown>> = {};
    // A graph whose tokens a service of its own signs (Nexus COS's token-mgr) needs that service for any signed-in call,
    // and the services it calls (key-service, which wraps its private keys).
    const issuer = accessTokenIssuerOf(graph);
    const issuerNeeds = issuer ? [issuer.service.name, ...Object.values(describeService(graph, issuer.service.name).links)] : [];
    const started = [...new Set([...issuerNeeds.filter((name) => !names.includes(name)), ...names])];
    await startServices(services, graph, started, subgraphs, options.settings);
    const issuerService = issuer ? subgraphs[issuer.service.name] : undefined;
    const gateway = await services.startGateway(
      graph,
      routesFor(graph, subgraphs),
      // Revocations are asked of the same service, found from this URL.
      issuerService ? { ACCESS_TOKEN_JWKS_URL: `${issuerService.url}${JWKS_PATH}` } : {},
    );
    return {
      gateway,
      subgraphs,
      tokenFor: async (identity) =>
        issuerService
          ? (
              await callSubgraph<{ issueAccessToken: { token: string } }, unknown>({
                url: issuerService.graphqlUrl,
                query: ISSUE_ACCESS_TOKEN,
                variables: { input: { userId: identity.userId, tenantId: identity.tenantId, roles: identity.roles } },
                identity: { kind: 'anonymous' },
                internalSecret: secretOrDevelopmentDefault(undefined),
              })
            ).issueAccessToken.token
          : (
              await signAccessToken(
                { userId: identity.userId, tenantId: identity.tenantId, roles: identity.roles },
                secretOrDevelopmentDefault(undefined),
                900,
              )
            ).token,
      close: () => services.close(),
    };
  } catch (error) {
    await services.close();
    throw error;
  }
}
