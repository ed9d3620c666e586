import { entityId } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const ScheduleRunOutcome = { Triggered: 'TRIGGERED', Skipped: 'SKIPPED', Failed: 'FAILED' } as const;
export type ScheduleRunOutcome = (typeof ScheduleRunOutcome)[keyof typeof ScheduleRunOutcome];

/** One tick of a schedule: at most one per schedule and instant, whichever instance fires it. */
export const ScheduleRunSchema = defineEntity({
  name: 'ScheduleRun',
  tableName: 'schedule_runs',
  uniques: [{ properties: ['scheduleId', 'scheduledFor'] }],
  properties: {
    ...entityId,
    scheduleId: p.uuid(),
    scheduledFor: p.datetime(),
    firedAt: p.datetime(),
    outcome: p.enum(() => ScheduleRunOutcome),
    executionId: p.uuid().nullable(),
    error: p.text().nullable(),
  },
});

export class ScheduleRun extends ScheduleRunSchema.class {}
ScheduleRunSchema.setClass(ScheduleRun);
