import { randomBytes } from 'node:crypto';
import { type Environment, type RunningSubgraph, type StartSubgraphOptions, type Subgraph, type SubgraphConfig } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, seedEmbeddedDatabase, TcpProxy, testEnvironment } from '@nexusflow/kit/testing';
import { loadGatewayConfig } from '../../gateway/src/config.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/gateway.ts';
import type { AuthConfig } from '../../subgraphs/nexusflow/auth/src/config.ts';
import type { AuthServices } from '../../subgraphs/nexusflow/auth/src/context.ts';
import { subgraph as authSubgraph } from '../../subgraphs/nexusflow/auth/src/subgraph.ts';
import type { WorkflowsConfig } from '../../subgraphs/nexusflow/workflows/src/config.ts';
import type { WorkflowServices } from '../../subgraphs/nexusflow/workflows/src/context.ts';
import { subgraph as workflowsSubgraph } from '../../subgraphs/nexusflow/workflows/src/subgraph.ts';
import type { NotificationServices } from '../../subgraphs/nexusflow/notifications/src/context.ts';
import { subgraph as notificationsSubgraph } from '../../subgraphs/nexusflow/notifications/src/subgraph.ts';
import type { SchedulerConfig } from '../../subgraphs/nexusflow/scheduler/src/config.ts';
import type { SchedulerServices } from '../../subgraphs/nexusflow/scheduler/src/context.ts';
import { subgraph as schedulerSubgraph } from '../../subgraphs/nexusflow/scheduler/src/subgraph.ts';

export type StorageMode = 'embedded' | 'postgres';

export interface Stack {
  gateway: RunningGateway;
  auth: RunningSubgraph<AuthServices>;
  authConfig: AuthConfig;
  workflows: RunningSubgraph<WorkflowServices>;
  workflowsConfig: WorkflowsConfig;
  /** The environment the workflows subgraph was started with, for extra worker processes. */
  workflowsEnv: Environment;
  scheduler: RunningSubgraph<SchedulerServices>;
  notifications: RunningSubgraph<NotificationServices>;
  /** Carries the notifications subgraph's calls to auth, so that a test can take auth out of its reach. */
  authForNotifications: TcpProxy;
  schedulerConfig: SchedulerConfig;
  /** The scheduler's clock, which tests move; its ticker only ticks when a test calls `tick()`. */
  clock: { now: Date };
  /** Starts another scheduler instance on the same database and clock (postgres mode only). */
  startScheduler(): Promise<RunningSubgraph<SchedulerServices>>;
  /** Starts one more gateway on the same subgraphs, e.g. with other limits. */
  startGateway(env?: Environment): Promise<RunningGateway>;
  close(): Promise<void>;
}

/**
 * The gateway and every subgraph, in this process, on free ports, over real HTTP. The embedded mode
 * keeps PGlite files in a scratch folder; the postgres mode gives each subgraph a database of its own
 * on the real server, and uses the real Redis and RabbitMQ under a namespace of its own, so that test
 * files can run in parallel.
 */
export interface StackOptions {
  /** On top of the auth subgraph's environment, e.g. a DATABASE_URL through a TcpProxy. */
  auth?: Environment;
  workflows?: Environment;
  notifications?: Environment;
  /** The Redis of every service and gateway in postgres mode, e.g. through a TcpProxy. @default TEST_REDIS_URL */
  redisUrl?: string;
  /**
   * The clock of the gateways and of the auth subgraph (identity signatures, token expiries, sign-in throttling), so
   * that a test can move time for both sides of a signed identity at once.
   */
  now?: () => number;
}

export async function startStack(mode: StorageMode, label: string, extra: StackOptions = {}): Promise<Stack> {
  const cleanups: (() => Promise<void>)[] = [];
  const dataDir = await createTempDirectory(label);
  cleanups.push(dataDir.remove);
  const namespace = `nf-test-${label.replaceAll('_', '-')}-${randomBytes(4).toString('hex')}`;
  const base: Environment = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', NODE_ENV: 'test', AMQP_NAMESPACE: namespace };

  const environmentFor = async (service: string): Promise<Environment> => {
    if (mode === 'embedded') return { ...base };
    if (!testEnvironment.postgresUrl || !testEnvironment.redisUrl || !testEnvironment.amqpUrl) {
      throw new Error('postgres mode needs TEST_POSTGRES_URL, TEST_REDIS_URL and TEST_AMQP_URL');
    }
    const database = await createTestDatabase(testEnvironment.postgresUrl, `${label}_${service}`);
    cleanups.push(database.drop);
    return {
      ...base,
      DATABASE_URL: database.url,
      REDIS_URL: extra.redisUrl ?? testEnvironment.redisUrl,
      AMQP_URL: testEnvironment.amqpUrl,
    };
  };

  // An embedded database starts as a copy of a migrated template: creating PGlite's cluster and migrating it is most of
  // a stack's start-up.
  const start = async <Config extends { subgraph: SubgraphConfig }, Loaders, Services>(
    subgraph: Subgraph<Config, Loaders, Services>,
    env: Environment,
    options: StartSubgraphOptions = {},
  ): Promise<RunningSubgraph<Services>> => {
    const config = subgraph.config(env).subgraph;
    if (!config.databaseUrl) await seedEmbeddedDatabase(config.dataDir, config.serviceName, subgraph);
    return subgraph.start(env, options);
  };

  // Every test client comes from one address and some suites register more users than a real client would.
  const authEnv: Environment = { ...(await environmentFor('auth')), REGISTRATIONS_PER_ADDRESS: '1000', ...extra.auth };
  const authConfig = authSubgraph.config(authEnv);
  const auth = await start(authSubgraph, authEnv, extra.now ? { now: extra.now, clock: extra.now } : {});
  cleanups.push(() => auth.close());

  const authUrl = new URL(auth.graphqlUrl);
  const authForNotifications = await TcpProxy.start({ host: authUrl.hostname, port: Number(authUrl.port) });
  cleanups.push(() => authForNotifications.close());

  // Before workflows, whose notify steps call it; it asks auth whether a recipient is a user of the sender's tenant.
  const notifications = await start(notificationsSubgraph, {
    ...(await environmentFor('notifications')),
    AUTH_URL: authForNotifications.urlFor(auth.graphqlUrl),
    DELIVERY_BACKOFF_MS: '20',
    ...extra.notifications,
  });
  cleanups.push(() => notifications.close());

  const workflowsEnv: Environment = {
    ...(await environmentFor('workflows')),
    NOTIFICATIONS_URL: notifications.graphqlUrl,
    ALLOW_PRIVATE_NETWORK_STEPS: 'true',
    OUTBOX_POLL_INTERVAL_MS: '50',
    SWEEP_INTERVAL_MS: '200',
    STALL_AFTER_MS: '5000',
    ...extra.workflows,
  };
  const workflowsConfig = workflowsSubgraph.config(workflowsEnv);
  const workflows = await start(workflowsSubgraph, workflowsEnv);
  cleanups.push(() => workflows.close());

  const clock = { now: new Date() };
  const schedulerEnv: Environment = {
    ...(await environmentFor('scheduler')),
    WORKFLOWS_URL: workflows.graphqlUrl,
    RUN_TICKER: 'false',
  };
  const schedulerConfig = schedulerSubgraph.config(schedulerEnv);
  const launchScheduler = async () => {
    const instance = await start(schedulerSubgraph, schedulerEnv, { clock: () => clock.now.getTime() });
    cleanups.push(() => instance.close());
    return instance;
  };
  const scheduler = await launchScheduler();

  const gateways: RunningGateway[] = [];
  const launchGateway = async (overrides: Environment = {}) => {
    const gatewayEnv: Environment = {
      PORT: '0',
      LOG_LEVEL: 'silent',
      NODE_ENV: 'test',
      SUBGRAPH_AUTH_URL: auth.graphqlUrl,
      SUBGRAPH_WORKFLOWS_URL: workflows.graphqlUrl,
      SUBGRAPH_SCHEDULER_URL: scheduler.graphqlUrl,
      SUBGRAPH_NOTIFICATIONS_URL: notifications.graphqlUrl,
      // Parallel test files share one Redis and one client address; only the rate-limit tests want tight budgets.
      RATE_LIMIT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_TENANT_PER_MINUTE: '100000',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000',
      // Test files run in parallel on a busy machine; the shedding test drives the detector itself.
      LOAD_SHEDDING_DELAY_MS: '0',
      ...overrides,
    };
    if (mode === 'postgres') gatewayEnv.REDIS_URL = extra.redisUrl ?? testEnvironment.redisUrl;
    const gateway = await startGateway(loadGatewayConfig(gatewayEnv), extra.now ? { now: extra.now } : {});
    gateways.push(gateway);
    return gateway;
  };
  const gateway = await launchGateway();

  return {
    gateway,
    auth,
    authConfig,
    workflows,
    workflowsConfig,
    workflowsEnv,
    scheduler,
    schedulerConfig,
    notifications,
    authForNotifications,
    clock,
    startScheduler: launchScheduler,
    startGateway: launchGateway,
    async close() {
      for (const running of gateways) await running.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}
