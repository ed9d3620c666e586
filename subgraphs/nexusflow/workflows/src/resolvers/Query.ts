import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';
import { definitionGuide, validateDefinition } from '../domain/definition-guide.ts';

export const Query: QueryResolvers = {
  workflows: (_parent, args, { em, services }) => services.workflows.list(em, args),
  workflow: async (_parent, { id }, { loaders }) => {
    const workflow = await loaders.workflowById.load(requireUuid(id, 'id'));
    return workflow && !workflow.deletedAt ? workflow : null;
  },
  execution: (_parent, { id }, { loaders }) => loaders.executionById.load(requireUuid(id, 'id')),
  stepTypes: (_parent, _args, { services }) => services.steps.types(),
  validateWorkflowDefinition: (_parent, { definition }, { identity, services }) => validateDefinition(identity, definition, services.steps),
  workflowDefinitionGuide: (_parent, _args, { identity, services }) => definitionGuide(identity, services.steps),
};
