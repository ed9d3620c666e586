import { requireUuid } from '@nexusflow/kit';
import type { MutationResolvers } from '../__generated__/resolvers-types.ts';
import { WorkflowStatus } from '../entities/workflow.entity.ts';

export const Mutation: MutationResolvers = {
  createWorkflow: (_parent, { input }, { em, identity, services }) => services.workflows.create(em, identity, input),
  updateWorkflow: (_parent, { id, input }, { em, identity, services }) =>
    services.workflows.update(em, identity, requireUuid(id, 'id'), input),
  deleteWorkflow: (_parent, { id }, { em, identity, services }) => services.workflows.delete(em, identity, requireUuid(id, 'id')),
  pauseWorkflow: (_parent, { id }, { em, identity, services }) =>
    services.workflows.setStatus(em, identity, requireUuid(id, 'id'), WorkflowStatus.Paused),
  resumeWorkflow: (_parent, { id }, { em, identity, services }) =>
    services.workflows.setStatus(em, identity, requireUuid(id, 'id'), WorkflowStatus.Active),
  runWorkflow: (_parent, { id, input, idempotencyKey }, { em, identity, services }) =>
    services.executions.run(em, identity, requireUuid(id, 'id'), input, idempotencyKey),
  pauseExecution: (_parent, { id }, { em, identity, services }) =>
    services.executions.transition(em, identity, requireUuid(id, 'id'), 'pause'),
  resumeExecution: (_parent, { id }, { em, identity, services }) =>
    services.executions.transition(em, identity, requireUuid(id, 'id'), 'resume'),
  cancelExecution: (_parent, { id }, { em, identity, services }) =>
    services.executions.transition(em, identity, requireUuid(id, 'id'), 'cancel'),
  retryExecution: (_parent, { id }, { em, identity, services }) =>
    services.executions.transition(em, identity, requireUuid(id, 'id'), 'retry'),
  rotateWorkflowWebhookSecret: (_parent, { id }, { em, identity, services }) =>
    services.webhooks.rotate(em, identity, requireUuid(id, 'id')),
};
