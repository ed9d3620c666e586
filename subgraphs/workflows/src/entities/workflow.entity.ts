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
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    tenantId: p.uuid().index(),
    ownerId: p.uuid().index(),
    name: p.string(),
    description: p.text().nullable(),
    status: p.enum(() => WorkflowStatus),
    version: p.integer(),
    steps: p.json<StepDefinition[]>(),
    triggers: p.json<TriggerDefinition[]>(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
    deletedAt: p.datetime().nullable(),
  },
});

export class Workflow extends WorkflowSchema.class {}
WorkflowSchema.setClass(Workflow);
