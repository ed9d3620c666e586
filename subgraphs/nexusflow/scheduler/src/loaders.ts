import DataLoader from 'dataloader';
import { groupByKeys, loaderById, tenantCondition, type EntityManager, type Identity } from '@nexusflow/kit';
import { ScheduleRun } from './entities/schedule-run.entity.ts';
import { Schedule } from './entities/schedule.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (see the kit's tenant-scope.ts). */
export function createLoaders(em: EntityManager, _identity: Identity) {
  return {
    scheduleById: loaderById(em, Schedule, { deletedAt: null }),
    schedulesByWorkflowId: new DataLoader<string, Schedule[]>(async (workflowIds) =>
      groupByKeys(
        workflowIds,
        await em.find(Schedule, { workflowId: { $in: [...workflowIds] }, deletedAt: null }, { orderBy: { createdAt: 'asc', id: 'asc' } }),
        (s) => s.workflowId,
      ),
    ),
    /**
     * The latest runs of many schedules in one statement, numbered per schedule by a window function. Raw SQL is beyond
     * the ORM's tenant filter: runs have the tenant of their schedule, whose tenant clause is written here.
     */
    recentRuns: new DataLoader<string, ScheduleRun[], string>(async (keys) => {
      const parsed = keys.map((key) => {
        const [scheduleId, last] = key.split('|');
        return { scheduleId: scheduleId!, last: Number(last) };
      });
      const limit = Math.max(...parsed.map((key) => key.last));
      const ids = [...new Set(parsed.map((key) => key.scheduleId))];
      const tenant = tenantCondition(em, 's."tenant_id"');
      const rows = await em.getConnection().execute<Record<string, unknown>[]>(
        `select * from (select r.*, row_number() over (partition by r."schedule_id" order by r."scheduled_for" desc) as "position"
             from "schedule_runs" r join "schedules" s on s."id" = r."schedule_id"
             where r."schedule_id" in (${ids.map(() => '?').join(', ')}) and ${tenant.sql}) ranked
           where "position" <= ? order by "scheduled_for" desc`,
        [...ids, ...tenant.params, limit],
      );
      const runs = rows.map(({ position: _position, ...row }) => em.map(ScheduleRun, row));
      return parsed.map((key) => runs.filter((run) => run.scheduleId === key.scheduleId).slice(0, key.last));
    }),
  };
}

export type SchedulerLoaders = ReturnType<typeof createLoaders>;
