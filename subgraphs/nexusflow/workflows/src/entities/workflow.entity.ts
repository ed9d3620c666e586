import { entityBase, tenantFilter, updatedAt } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { StepDefinition, TriggerDefinition } from '../domain/definition.ts';

export const WorkflowStatus = {
  Active: 'ACTIVE',
  Paused: 'PAUSED',
} as const;
export type WorkflowStatus = (typeof WorkflowStatus)[keyof typeof WorkflowStatus];

/** A workflow as it is now. Every edit also writes an immutable {@link WorkflowVersion}. */
export const WorkflowSchema = defineEntity({
  name: 'Workflow',
  tableName: 'workflows',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    ownerId: p.uuid().index(),
    name: p.string(),
    description: p.text().nullable(),
    status: p.enum(() => WorkflowStatus),
    version: p.integer(),
    steps: p.json<StepDefinition[]>(),
    triggers: p.json<TriggerDefinition[]>(),
    ...updatedAt,
    deletedAt: p.datetime().nullable(),
  },
});

export class Workflow extends WorkflowSchema.class {}
WorkflowSchema.setClass(Workflow);
