import type { OutboxRelay, PubSub, SubgraphContext, WorkQueue } from '@nexusflow/kit';
import type { ExecutionEngine, StepMessage } from './domain/engine.ts';
import type { ExecutionService } from './domain/execution-service.ts';
import type { WorkflowService } from './domain/workflow-service.ts';
import type { WorkflowLoaders } from './loaders.ts';
import type { StepRegistry } from './steps/index.ts';

export interface WorkflowServices {
  workflows: WorkflowService;
  executions: ExecutionService;
  engine: ExecutionEngine;
  steps: StepRegistry;
  /** Live updates, as the outbox relay publishes them once committed and confirmed. */
  live: PubSub;
  /** Steps waiting for a worker: the engine enqueues them, the background work consumes them. */
  stepQueue: WorkQueue<StepMessage>;
  /** Publishes committed events (and feeds live subscribers); the background work runs it. */
  relay: OutboxRelay;
}

export type WorkflowsContext = SubgraphContext<WorkflowLoaders, WorkflowServices>;
