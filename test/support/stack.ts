import type { Environment, RunningSubgraph } from '@nexusflow/kit';
import { TcpProxy } from '@nexusflow/kit/testing';
import { servicesOf } from '@nexusflow/topology';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
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
import { routesFor, startServices, TestServices, type StorageMode } from './services.ts';

export type { StorageMode } from './services.ts';

export interface Stack {
  gateway: RunningGateway;
  /** Every subgraph of the graph, by service name: the four above, and any other on its defaults. */
  subgraphs: Record<string, RunningSubgraph<unknown>>;
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
  /** Carries auth's calls to notifications (its emails), so that a test can take notifications out of its reach. */
  notificationsForAuth: TcpProxy;
  schedulerConfig: SchedulerConfig;
  /** The scheduler's clock, which tests move; its ticker only ticks when a test calls `tick()`. */
  clock: { now: Date };
  /** Starts another scheduler instance on the same database and clock (postgres mode only). */
  startScheduler(): Promise<RunningSubgraph<SchedulerServices>>;
  /** Starts one more gateway on the same subgraphs, e.g. with other limits. */
  startGateway(env?: Environment): Promise<RunningGateway>;
  /** What {@link startGateway} starts a gateway with, for one in a process of its own. */
  gatewayEnvironment(env?: Environment): { env: Environment; args: string[] };
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

/** The subgraphs the stack starts with settings of their own; every other service of the graph starts on its defaults. */
const CONFIGURED_SERVICES = ['auth', 'notifications', 'workflows', 'scheduler'];

export async function startStack(mode: StorageMode, label: string, extra: StackOptions = {}): Promise<Stack> {
  const services = await TestServices.create(mode, label, extra.redisUrl ? { redisUrl: extra.redisUrl } : {});
  try {
    return await startStackOn(services, extra);
  } catch (error) {
    await services.close();
    throw error;
  }
}

async function startStackOn(services: TestServices, extra: StackOptions): Promise<Stack> {
  // Every test client comes from one address and some suites register more users than a real client would.
  // Auth and notifications call each other: auth's calls go through a proxy that points at notifications once it runs.
  const notificationsForAuth = await TcpProxy.start();
  services.onClose(() => notificationsForAuth.close());
  const authEnv: Environment = {
    ...(await services.environmentFor('auth')),
    REGISTRATIONS_PER_ADDRESS: '1000',
    NOTIFICATIONS_URL: `http://127.0.0.1:${notificationsForAuth.port}/graphql`,
    PENDING_EMAIL_POLL_INTERVAL_MS: '50',
    PENDING_EMAIL_BACKOFF_MS: '20',
    ...extra.auth,
  };
  const authConfig = authSubgraph.config(authEnv);
  const auth = await services.start(authSubgraph, authEnv, extra.now ? { now: extra.now, clock: extra.now } : {});

  const authUrl = new URL(auth.graphqlUrl);
  const authForNotifications = await TcpProxy.start({ host: authUrl.hostname, port: Number(authUrl.port) });
  services.onClose(() => authForNotifications.close());

  // Before workflows, whose notify steps call it; it asks auth whether a recipient is a user of the sender's tenant.
  const notifications = await services.start(notificationsSubgraph, {
    ...(await services.environmentFor('notifications')),
    AUTH_URL: authForNotifications.urlFor(auth.graphqlUrl),
    DELIVERY_BACKOFF_MS: '20',
    ...extra.notifications,
  });
  notificationsForAuth.pointAt(notifications.graphqlUrl);

  const workflowsEnv: Environment = {
    ...(await services.environmentFor('workflows')),
    NOTIFICATIONS_URL: notifications.graphqlUrl,
    ALLOW_PRIVATE_NETWORK_STEPS: 'true',
    OUTBOX_POLL_INTERVAL_MS: '50',
    SWEEP_INTERVAL_MS: '200',
    STALL_AFTER_MS: '5000',
    ...extra.workflows,
  };
  const workflowsConfig = workflowsSubgraph.config(workflowsEnv);
  const workflows = await services.start(workflowsSubgraph, workflowsEnv);

  const clock = { now: new Date() };
  const schedulerEnv: Environment = {
    ...(await services.environmentFor('scheduler')),
    WORKFLOWS_URL: workflows.graphqlUrl,
    RUN_TICKER: 'false',
  };
  const schedulerConfig = schedulerSubgraph.config(schedulerEnv);
  const launchScheduler = () => services.start(schedulerSubgraph, schedulerEnv, { clock: () => clock.now.getTime() });
  const scheduler = await launchScheduler();

  const subgraphs: Record<string, RunningSubgraph<unknown>> = { auth, notifications, workflows, scheduler };
  const others = servicesOf('nexusflow')
    .map(({ name }) => name)
    .filter((name) => !CONFIGURED_SERVICES.includes(name));
  await startServices(services, 'nexusflow', others, subgraphs);

  const launchGateway = (overrides: Environment = {}) =>
    services.startGateway('nexusflow', routesFor('nexusflow', subgraphs), overrides, extra.now ? { now: extra.now } : {});
  const gateway = await launchGateway();

  return {
    gateway,
    subgraphs,
    auth,
    authConfig,
    workflows,
    workflowsConfig,
    workflowsEnv,
    scheduler,
    schedulerConfig,
    notifications,
    authForNotifications,
    notificationsForAuth,
    clock,
    startScheduler: launchScheduler,
    startGateway: launchGateway,
    gatewayEnvironment: (overrides: Environment = {}) =>
      services.gatewayEnvironment('nexusflow', routesFor('nexusflow', subgraphs), overrides),
    close: () => services.close(),
  };
}
