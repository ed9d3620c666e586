import { isUuid } from '@nexusflow/kit';
import type { WorkflowResolvers } from '../__generated__/resolvers-types.ts';
import { pageSize } from '../domain/pagination.ts';

export const Workflow: WorkflowResolvers = {
  __resolveReference: async ({ id }, { loaders }) => {
    const workflow = isUuid(id) ? await loaders.workflowById.load(id) : null;
    return workflow && !workflow.deletedAt ? workflow : null;
  },
  owner: (workflow) => ({ id: workflow.ownerId }),
  tenant: (workflow) => ({ id: workflow.tenantId }),
  executions: (workflow, { first, after, status }, { em, loaders, services }) =>
    after
      ? services.executions.list(em, { workflowId: workflow.id, first, after, status })
      : loaders.executionsByWorkflow.load({ parentId: workflow.id, first: pageSize(first), status }),
};
