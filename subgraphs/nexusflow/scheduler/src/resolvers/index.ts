import { DateTimeScalar, JSONScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Schedule as ScheduleEntity } from '../entities/schedule.entity.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { Schedule } from './Schedule.ts';
import { ScheduleRun } from './ScheduleRun.ts';
import { Workflow } from './Workflow.ts';

/** Members of result unions are entities (success) or plain objects carrying their `__typename` (expected failures). */
const union = {
  __resolveType: (value: unknown) => (value instanceof ScheduleEntity ? 'Schedule' : (value as { __typename: string }).__typename),
} as never;

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query,
  Mutation,
  Schedule,
  ScheduleRun,
  Workflow,
  ScheduleResult: union,
  DeleteScheduleResult: union,
  ScheduleError: union,
};
