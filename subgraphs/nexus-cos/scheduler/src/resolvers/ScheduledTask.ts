import { isUuid } from '@nexusflow/kit';
import type { ScheduledTaskResolvers } from '../__generated__/resolvers-types.ts';

export const ScheduledTask: ScheduledTaskResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.scheduledTaskById.load(id) : null),
};
