import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { StepDefinition, TriggerDefinition } from '../domain/definition.ts';

/** What a workflow was at one version; an execution runs the version it started with. */
export const WorkflowVersionSchema = defineEntity({
  name: 'WorkflowVersion',
  tableName: 'workflow_versions',
  uniques: [{ properties: ['workflowId', 'version'] }],
  properties: {
    ...entityBase,
    workflowId: p.uuid(),
    version: p.integer(),
    name: p.string(),
    steps: p.json<StepDefinition[]>(),
    triggers: p.json<TriggerDefinition[]>(),
    createdBy: p.uuid(),
  },
});

export class WorkflowVersion extends WorkflowVersionSchema.class {}
WorkflowVersionSchema.setClass(WorkflowVersion);
