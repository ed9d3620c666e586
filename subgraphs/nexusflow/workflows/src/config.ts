import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  booleanFlagSchema,
  loadSubgraphConfig,
  secretOrDevelopmentDefault,
  sharedSecretSchema,
  subgraphEnv,
  type Environment,
} from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const workflowsEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexusflow', 'workflows')),
  RUN_WORKER: booleanFlagSchema.default(true),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  WORKER_STEPS_PER_MESSAGE: z.coerce.number().int().min(1).max(1000).default(16),
  ALLOW_PRIVATE_NETWORK_STEPS: booleanFlagSchema.default(false),
  SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
  STALL_AFTER_MS: z.coerce.number().int().min(100).default(60_000),
  OUTBOX_POLL_INTERVAL_MS: z.coerce.number().int().min(10).default(1000),
  STEP_LEASE_MARGIN_MS: z.coerce.number().int().min(0).default(5000),
  TIMER_POLL_INTERVAL_MS: z.coerce.number().int().min(10).default(1000),
  STEP_MAX_RETRY_AFTER_MS: z.coerce.number().int().min(0).max(86_400_000).default(900_000),
  WEBHOOK_SECRET_GRACE_HOURS: z.coerce.number().int().min(0).max(168).default(24),
  WORKER_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, 'must be 1 to 100 letters, digits, ".", "_", ":" or "-", starting with a letter or digit')
    .optional(),
  WEBHOOK_SECRET_ENCRYPTION_KEY: sharedSecretSchema,
  WEBHOOK_BASE_URL: z.url().optional(),
  WEBHOOK_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(256 * 1024),
  WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
});

/**
 * The name of this process's workers in the leases they hold. Two live processes cannot listen on one port of one host,
 * so host and port name one process, and the same one again after a restart; a process on a port chosen by the system
 * (PORT=0) has no such name, and gets one of its own.
 */
function defaultWorkerId(port: number): string {
  return port === 0 ? randomUUID() : `${hostname()}:${port}`;
}

export function loadWorkflowsConfig(env?: Environment) {
  return loadSubgraphConfig(
    'workflows',
    workflowsEnvSchema,
    env,
    (parsed) => ({
      /** Run step workers in this process; the embedded default needs it, since its queue is in-process. */
      runWorker: parsed.RUN_WORKER,
      workerConcurrency: parsed.WORKER_CONCURRENCY,
      /**
       * How many steps of an execution a worker runs in a row for one queue message, claiming each next step as it
       * settles the one before; then the execution goes back to the queue, behind the other executions waiting there.
       */
      stepsPerMessage: parsed.WORKER_STEPS_PER_MESSAGE,
      /** Let HTTP steps call loopback, private and link-local addresses (tests, on-premises installs). */
      allowPrivateNetworkSteps: parsed.ALLOW_PRIVATE_NETWORK_STEPS,
      sweepIntervalMs: parsed.SWEEP_INTERVAL_MS,
      stallAfterMs: parsed.STALL_AFTER_MS,
      outboxPollIntervalMs: parsed.OUTBOX_POLL_INTERVAL_MS,
      /** How long past its timeout a worker keeps a step before another may take it over. */
      stepLeaseMarginMs: parsed.STEP_LEASE_MARGIN_MS,
      /** How often due timers are looked for beyond the wake-ups this process arms itself: bounds how late a lost one fires. */
      timerPollIntervalMs: parsed.TIMER_POLL_INTERVAL_MS,
      /** The longest a step's Retry-After hint (a provider's 429, the ai service's limit) may put its next attempt off. */
      stepMaxRetryAfterMs: parsed.STEP_MAX_RETRY_AFTER_MS,
      workerId: parsed.WORKER_ID ?? defaultWorkerId(parsed.PORT),
      /** The notifications subgraph, which notify steps ask to notify users. */
      notificationsUrl: parsed.NOTIFICATIONS_URL,
      webhooks: {
        /** Encrypts the signing secrets of workflow webhooks at rest. */
        encryptionKey: secretOrDevelopmentDefault(parsed.WEBHOOK_SECRET_ENCRYPTION_KEY),
        /** Where senders reach this service's webhook routes (the gateway does not proxy them); this process's own address when unset. */
        baseUrl: parsed.WEBHOOK_BASE_URL ?? `http://localhost:${parsed.PORT}`,
        maxBodyBytes: parsed.WEBHOOK_MAX_BODY_BYTES,
        /** How old a delivery's signed timestamp may be (either way), so that a captured delivery cannot be replayed later. */
        toleranceSeconds: parsed.WEBHOOK_TOLERANCE_SECONDS,
        /** How long a rotated-out secret still verifies deliveries, so that senders can switch without losing any; 0: not at all. */
        secretGraceSeconds: parsed.WEBHOOK_SECRET_GRACE_HOURS * 3600,
      },
      /** The ai subgraph, which ai steps ask for completions, classifications, extractions and summaries. */
      aiUrl: parsed.AI_URL,
      /** The integrations subgraph, which integration steps ask to act at a provider through the tenant's connection. */
      integrationsUrl: parsed.INTEGRATIONS_URL,
      /** The billing subgraph, asked for a tenant's execution quota before runWorkflow starts a run. */
      billingUrl: parsed.BILLING_URL,
    }),
    { requiredInProduction: ['WEBHOOK_SECRET_ENCRYPTION_KEY'] },
  );
}

export type WorkflowsConfig = ReturnType<typeof loadWorkflowsConfig>;
