import { requireUuid } from '@nexusflow/kit';
import type { MutationResolvers, ScheduleInput } from '../__generated__/resolvers-types.ts';
import { ScheduleStatus } from '../entities/schedule.entity.ts';

/** The workflow id is checked here, as a client's argument; the rest of the definition is the service's to judge. */
const checkedInput = (input: ScheduleInput): ScheduleInput => ({ ...input, workflowId: requireUuid(input.workflowId, 'workflowId') });

export const Mutation: MutationResolvers = {
  createSchedule: (_parent, { input }, { em, identity, services }) => services.schedules.create(em, identity, checkedInput(input)),
  updateSchedule: (_parent, { id, input }, { em, identity, services }) =>
    services.schedules.update(em, identity, requireUuid(id, 'id'), checkedInput(input)),
  pauseSchedule: (_parent, { id }, { em, identity, services }) =>
    services.schedules.setStatus(em, identity, requireUuid(id, 'id'), ScheduleStatus.Paused),
  resumeSchedule: (_parent, { id }, { em, identity, services }) =>
    services.schedules.setStatus(em, identity, requireUuid(id, 'id'), ScheduleStatus.Active),
  deleteSchedule: (_parent, { id }, { em, identity, services }) => services.schedules.delete(em, identity, requireUuid(id, 'id')),
};
