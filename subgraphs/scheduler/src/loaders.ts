import DataLoader from 'dataloader';
import { groupByKeys, orderByKeys, type EntityManager, type Identity } from '@nexusflow/kit';
import { ScheduleRun } from './entities/schedule-run.entity.ts';
import { Schedule } from './entities/schedule.entity.ts';

export function createLoaders(em: EntityManager, identity: Identity) {
  const tenantId = identity.kind === 'user' ? identity.tenantId : '00000000-0000-0000-0000-000000000000';
  return {
    scheduleById: new DataLoader<string, Schedule | null>(async (ids) =>
      orderByKeys(ids, await em.find(Schedule, { id: { $in: [...ids] }, tenantId, deletedAt: null }), (s) => s.id),
    ),
    schedulesByWorkflowId: new DataLoader<string, Schedule[]>(async (workflowIds) =>
      groupByKeys(
        workflowIds,
        await em.find(Schedule, { workflowId: { $in: [...workflowIds] }, tenantId, deletedAt: null }, { orderBy: { createdAt: 'asc', id: 'asc' } }),
        (s) => s.workflowId,
      ),
    ),
    /** The latest runs of many schedules in one statement, numbered per schedule by a window function. */
    recentRuns: new DataLoader<string, ScheduleRun[], string>(
      async (keys) => {
        const parsed = keys.map((key) => {
          const [scheduleId, last] = key.split('|');
          return { scheduleId: scheduleId!, last: Number(last) };
        });
        const limit = Math.max(...parsed.map((key) => key.last));
        const ids = [...new Set(parsed.map((key) => key.scheduleId))];
        const rows = await em.getConnection().execute<Record<string, unknown>[]>(
          `select * from (select r.*, row_number() over (partition by r."schedule_id" order by r."scheduled_for" desc) as "position"
             from "schedule_runs" r where r."schedule_id" in (${ids.map(() => '?').join(', ')})) ranked
           where "position" <= ? order by "scheduled_for" desc`,
          [...ids, limit],
        );
        const runs = rows.map(({ position: _position, ...row }) => em.map(ScheduleRun, row));
        return parsed.map((key) => runs.filter((run) => run.scheduleId === key.scheduleId).slice(0, key.last));
      },
    ),
  };
}

export type SchedulerLoaders = ReturnType<typeof createLoaders>;
