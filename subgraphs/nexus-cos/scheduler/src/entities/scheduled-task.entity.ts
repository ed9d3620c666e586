import { entityBase, MisfirePolicy, tenantFilter, updatedAt } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const ScheduledTaskStatus = { Active: 'ACTIVE', Paused: 'PAUSED', Completed: 'COMPLETED' } as const;
export type ScheduledTaskStatus = (typeof ScheduledTaskStatus)[keyof typeof ScheduledTaskStatus];

/**
 * A task of one tenant: a JSON payload POSTed to a path of a Nexus COS service, on a cron schedule in a time zone
 * (`cron`) or once (`runAt`). The tenant filter keeps other tenants' rows out of every query.
 */
export const ScheduledTaskSchema = defineEntity({
  name: 'ScheduledTask',
  tableName: 'scheduled_tasks',
  filters: tenantFilter(),
  indexes: [{ properties: ['status', 'nextRunAt'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** Deliveries are signed as this user of the tenant. */
    createdBy: p.uuid(),
    name: p.string(),
    /** A service of the nexus-cos topology: the allow-list, resolved to a URL by configuration only. */
    target: p.string(),
    path: p.text(),
    payload: p.json<unknown>().nullable(),
    cron: p.string().nullable(),
    timezone: p.string(),
    runAt: p.datetime().nullable(),
    status: p.enum(() => ScheduledTaskStatus),
    misfirePolicy: p.enum(() => MisfirePolicy),
    maxAttempts: p.integer(),
    timeoutSeconds: p.integer(),
    /** The next occurrence; the instance that claims the row and moves it forward is the one that fires it. */
    nextRunAt: p.datetime().nullable(),
    lastRunAt: p.datetime().nullable(),
    ...updatedAt,
    deletedAt: p.datetime().nullable(),
  },
});

export class ScheduledTask extends ScheduledTaskSchema.class {}
ScheduledTaskSchema.setClass(ScheduledTask);
