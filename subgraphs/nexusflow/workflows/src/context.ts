import type { OutboxRelay, PubSub, SubgraphContext, WorkQueue } from '@nexusflow/kit';
import type { ExecutionEngine, StepMessage } from './domain/engine.ts';
import type { ExecutionQuotaGuard } from './domain/execution-quota.ts';
import type { ExecutionService } from './domain/execution-service.ts';
import type { SharedExecutionReads } from './domain/shared-execution-reads.ts';
import type { WorkflowService } from './domain/workflow-service.ts';
import type { WorkflowLoaders } from './loaders.ts';
import type { StepRegistry } from './steps/index.ts';
import type { EventTriggers } from './triggers/event-triggers.ts';
import type { WebhookDeliveries, WebhookSecrets } from './triggers/webhooks.ts';

export interface WorkflowServices {
  workflows: WorkflowService;
  executions: ExecutionService;
  /** The webhooks of WEBHOOK triggers: their secrets and URLs. */
  webhooks: WebhookSecrets;
  /** Receives deliveries to those webhooks (an HTTP route of the subgraph). */
  webhookDeliveries: WebhookDeliveries;
  /** Starts the runs EVENT triggers ask for; the background work consumes the event bus for it. */
  eventTriggers: EventTriggers;
  /** Whether a tenant may start another run this month (its plan's limit, from billing). */
  quota: ExecutionQuotaGuard;
  engine: ExecutionEngine;
  steps: StepRegistry;
  /** Live updates, as the outbox relay publishes them once committed and confirmed. */
  live: PubSub;
  /** The execution as live updates' subscribers read it: once per update for all subscribers of a tenant. */
  liveReads: SharedExecutionReads;
  /** Steps waiting for a worker: the engine enqueues them, the background work consumes them. */
  stepQueue: WorkQueue<StepMessage>;
  /** Publishes committed events (and feeds live subscribers); the background work runs it. */
  relay: OutboxRelay;
}

export type WorkflowsContext = SubgraphContext<WorkflowLoaders, WorkflowServices>;
