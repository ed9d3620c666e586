import { loadTypeDefs, OutboxEvent, type SubgraphDefinition } from '@nexusflow/kit';
import type { WorkflowsConfig } from './config.ts';
import type { WorkflowServices } from './context.ts';
import { Execution } from './entities/execution.entity.ts';
import { StepRun } from './entities/step-run.entity.ts';
import { Workflow } from './entities/workflow.entity.ts';
import { WorkflowVersion } from './entities/workflow-version.entity.ts';
import { createLoaders, type WorkflowLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createWorkflowServices, startBackgroundWork } from './services.ts';

export const typeDefs = loadTypeDefs(new URL('../schema.graphql', import.meta.url));
export const entities = [Workflow, WorkflowVersion, Execution, StepRun, OutboxEvent];

export function workflowsSubgraph(config: WorkflowsConfig): SubgraphDefinition<WorkflowLoaders, WorkflowServices> {
  let parts: ReturnType<typeof createWorkflowServices> | undefined;
  const started = () => {
    if (!parts) throw new Error('workflow services are not created yet');
    return parts;
  };
  return {
    typeDefs,
    resolvers: resolvers as SubgraphDefinition<WorkflowLoaders, WorkflowServices>['resolvers'],
    entities,
    migrations,
    createLoaders,
    createServices: (runtime) => {
      parts = createWorkflowServices(config, runtime);
      return parts.services;
    },
    background: (runtime) => startBackgroundWork(config, started(), runtime),
    healthChecks: () => ({ stepQueue: () => started().queue.ping() }),
  };
}
