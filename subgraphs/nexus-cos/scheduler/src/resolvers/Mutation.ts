import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createScheduledTask: (_parent, { input }, { em, identity, services }) => services.scheduledTasks.create(em, identity, input),
};
