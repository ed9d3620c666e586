import { DateTimeScalar, JSONScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { ScheduledTask as ScheduledTaskEntity } from '../entities/scheduled-task.entity.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { ScheduledTask } from './ScheduledTask.ts';

/** Members of result unions are entities (success) or plain objects carrying their `__typename` (expected failures). */
const union = {
  __resolveType: (value: unknown) =>
    value instanceof ScheduledTaskEntity ? 'ScheduledTask' : (value as { __typename: string }).__typename,
} as never;

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query,
  Mutation,
  ScheduledTask,
  ScheduledTaskResult: union,
  DeleteScheduledTaskResult: union,
  ScheduledTaskError: union,
};
