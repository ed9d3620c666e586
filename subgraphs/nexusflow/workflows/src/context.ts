import type { PubSub, SubgraphContext } from '@nexusflow/kit';
import type { ExecutionEngine } from './domain/engine.ts';
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
}

export type WorkflowsContext = SubgraphContext<WorkflowLoaders, WorkflowServices>;
