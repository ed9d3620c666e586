import { entityBase, MisfirePolicy, tenantFilter, updatedAt } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const ScheduleStatus = { Active: 'ACTIVE', Paused: 'PAUSED' } as const;
export type ScheduleStatus = (typeof ScheduleStatus)[keyof typeof ScheduleStatus];

/** What to do with ticks missed while no scheduler was running: the scheduling engine's policies. */
export { MisfirePolicy };

/** A recurring trigger of one workflow: a cron expression in a time zone, or a fixed interval. */
export const ScheduleSchema = defineEntity({
  name: 'Schedule',
  tableName: 'schedules',
  filters: tenantFilter(),
  indexes: [{ properties: ['status', 'nextRunAt'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    workflowId: p.uuid().index(),
    /** The scheduler starts runs on this user's behalf. */
    createdBy: p.uuid(),
    name: p.string(),
    cron: p.string().nullable(),
    intervalSeconds: p.integer().nullable(),
    timezone: p.string(),
    input: p.json<unknown>().nullable(),
    status: p.enum(() => ScheduleStatus),
    misfirePolicy: p.enum(() => MisfirePolicy),
    /** The next tick; it moves forward once the tick is settled. */
    nextRunAt: p.datetime().nullable(),
    lastRunAt: p.datetime().nullable(),
    /**
     * Set while an instance fires the tick due at `nextRunAt`, until this lease ends; kept (expired) after an attempt
     * whose outcome is unknown, so that the next claim starts the tick again whatever the misfire policy.
     */
    claimedUntil: p.datetime().nullable(),
    ...updatedAt,
    deletedAt: p.datetime().nullable(),
  },
});

export class Schedule extends ScheduleSchema.class {}
ScheduleSchema.setClass(Schedule);
