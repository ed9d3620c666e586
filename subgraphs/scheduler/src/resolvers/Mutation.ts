import type { MutationResolvers } from '../__generated__/resolvers-types.ts';
import { ScheduleStatus } from '../entities/schedule.entity.ts';

export const Mutation: MutationResolvers = {
  createSchedule: (_parent, { input }, { em, identity, services }) => services.schedules.create(em, identity, input),
  updateSchedule: (_parent, { id, input }, { em, identity, services }) => services.schedules.update(em, identity, id, input),
  pauseSchedule: (_parent, { id }, { em, identity, services }) => services.schedules.setStatus(em, identity, id, ScheduleStatus.Paused),
  resumeSchedule: (_parent, { id }, { em, identity, services }) => services.schedules.setStatus(em, identity, id, ScheduleStatus.Active),
  deleteSchedule: (_parent, { id }, { em, identity, services }) => services.schedules.delete(em, identity, id),
};
