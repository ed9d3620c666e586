import { defineSubgraph, OutboxEvent } from '@nexusflow/kit';
import { loadWorkflowsConfig } from './config.ts';
import { Execution } from './entities/execution.entity.ts';
import { StepRun } from './entities/step-run.entity.ts';
import { Workflow } from './entities/workflow.entity.ts';
import { WorkflowVersion } from './entities/workflow-version.entity.ts';
import { WorkflowWebhook } from './entities/workflow-webhook.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createWorkflowServices, startBackgroundWork } from './services.ts';

export const entities = [Workflow, WorkflowVersion, Execution, StepRun, WorkflowWebhook, OutboxEvent];

export const subgraph = defineSubgraph({
  name: 'workflows',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadWorkflowsConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createWorkflowServices,
  background: startBackgroundWork,
  healthChecks: (services) => ({ stepQueue: () => services.stepQueue.ping() }),
  /** Deliveries to workflow webhooks, on this service's port: senders reach it directly, not through the gateway. */
  routes: (services) => [services.webhookDeliveries.route()],
  /** Step workers, the outbox relay and the sweeper, without the API: scale these out as separate processes. */
  worker: { start: (runtime, services, config) => startBackgroundWork(runtime, services, { ...config, runWorker: true }) },
});
