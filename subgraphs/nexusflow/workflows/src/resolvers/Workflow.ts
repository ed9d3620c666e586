import { isUuid } from '@nexusflow/kit';
import type { WorkflowResolvers } from '../__generated__/resolvers-types.ts';
import { pageSize } from '../domain/pagination.ts';
import { hasWebhookTrigger } from '../triggers/webhooks.ts';

export const Workflow: WorkflowResolvers = {
  __resolveReference: async ({ id }, { loaders }) => {
    const workflow = isUuid(id) ? await loaders.workflowById.load(id) : null;
    return workflow && !workflow.deletedAt ? workflow : null;
  },
  owner: (workflow) => ({ id: workflow.ownerId }),
  tenant: (workflow) => ({ id: workflow.tenantId }),
  webhook: async (workflow, _args, { loaders, services }) => {
    if (!hasWebhookTrigger(workflow)) return null;
    const webhook = await loaders.webhookByWorkflowId.load(workflow.id);
    if (!webhook) return null;
    return {
      url: services.webhooks.urlOf(workflow.id),
      secret: services.webhooks.revealedSecret(workflow) ?? null,
      secretCreatedAt: webhook.secretCreatedAt,
      previousSecretExpiresAt: services.webhooks.previousSecretExpiresAt(webhook),
    };
  },
  executions: (workflow, { first, after, status }, { em, loaders, services }) =>
    after
      ? services.executions.list(em, { workflowId: workflow.id, first, after, status })
      : loaders.executionsByWorkflow.load({ parentId: workflow.id, first: pageSize(first), status }),
};
