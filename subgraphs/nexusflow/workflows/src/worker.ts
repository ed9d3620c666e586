import type { WorkerDefinition } from '@nexusflow/kit';
import type { WorkflowsConfig } from './config.ts';
import { migrations } from './migrations/index.ts';
import { createWorkflowServices, startBackgroundWork } from './services.ts';
import { entities } from './subgraph.ts';

/** Step workers, the outbox relay and the sweeper, without the API: scale these out as separate processes. */
export function workflowsWorker(config: WorkflowsConfig): WorkerDefinition {
  return {
    entities,
    migrations,
    start: (runtime) => startBackgroundWork({ ...config, runWorker: true }, createWorkflowServices(config, runtime), runtime),
  };
}
