import { booleanFlagSchema, parseConfig, subgraphEnv, toSubgraphConfig, type Environment } from '@nexusflow/kit';
import { z } from 'zod';

export const WORKFLOWS_DEFAULT_PORT = 3002;


const workflowsEnvSchema = z.object({
  ...subgraphEnv(WORKFLOWS_DEFAULT_PORT),
  RUN_WORKER: booleanFlagSchema.default(true),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  ALLOW_PRIVATE_NETWORK_STEPS: booleanFlagSchema.default(false),
  SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
  STALL_AFTER_MS: z.coerce.number().int().min(100).default(60_000),
  OUTBOX_POLL_INTERVAL_MS: z.coerce.number().int().min(10).default(1000),
  STEP_LEASE_MARGIN_MS: z.coerce.number().int().min(0).default(5000),
  NOTIFICATIONS_URL: z.url().default('http://127.0.0.1:3005/graphql'),
});

export function loadWorkflowsConfig(env?: Environment) {
  const parsed = parseConfig(workflowsEnvSchema, env, { requiredInProduction: ['INTERNAL_SECRET'] });
  return {
    subgraph: toSubgraphConfig('workflows', parsed),
    /** Run step workers in this process; the embedded default needs it, since its queue is in-process. */
    runWorker: parsed.RUN_WORKER,
    workerConcurrency: parsed.WORKER_CONCURRENCY,
    /** Let HTTP steps call loopback, private and link-local addresses (tests, on-premises installs). */
    allowPrivateNetworkSteps: parsed.ALLOW_PRIVATE_NETWORK_STEPS,
    sweepIntervalMs: parsed.SWEEP_INTERVAL_MS,
    stallAfterMs: parsed.STALL_AFTER_MS,
    outboxPollIntervalMs: parsed.OUTBOX_POLL_INTERVAL_MS,
    /** How long past its timeout a worker keeps a step before another may take it over. */
    stepLeaseMarginMs: parsed.STEP_LEASE_MARGIN_MS,
    /** The notifications subgraph, which notify steps ask to notify users. */
    notificationsUrl: parsed.NOTIFICATIONS_URL,
  };
}

export type WorkflowsConfig = ReturnType<typeof loadWorkflowsConfig>;
