import { requireUuid } from '@nexusflow/kit';
import type { MutationResolvers } from '../__generated__/resolvers-types.ts';
import { ScheduledTaskStatus } from '../entities/scheduled-task.entity.ts';

export const Mutation: MutationResolvers = {
  createScheduledTask: (_parent, { input }, { em, identity, services }) => services.tasks.create(em, identity, input),
  pauseScheduledTask: (_parent, { id }, { em, identity, services }) =>
    services.tasks.setStatus(em, identity, requireUuid(id, 'id'), ScheduledTaskStatus.Paused),
  resumeScheduledTask: (_parent, { id }, { em, identity, services }) =>
    services.tasks.setStatus(em, identity, requireUuid(id, 'id'), ScheduledTaskStatus.Active),
  deleteScheduledTask: (_parent, { id }, { em, identity, services }) => services.tasks.delete(em, identity, requireUuid(id, 'id')),
};
