import DataLoader from 'dataloader';
import { loaderById, tenantCondition, type EntityManager } from '@nexusflow/kit';
import { ScheduledTask } from './entities/scheduled-task.entity.ts';
import { TaskRun } from './entities/task-run.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return {
    scheduledTaskById: loaderById(em, ScheduledTask, { deletedAt: null }),
    /**
     * The latest runs of many tasks in one statement, numbered per task by a window function, keyed `<task id>|<count>`.
     * Raw SQL is beyond the ORM's tenant filter: its tenant clause is written here.
     */
    recentRuns: new DataLoader<string, TaskRun[]>(async (keys) => {
      const wanted = keys.map((key) => {
        const [taskId, last] = key.split('|');
        return { taskId: taskId!, last: Number(last) };
      });
      const taskIds = [...new Set(wanted.map(({ taskId }) => taskId))];
      const tenant = tenantCondition(em, 'r."tenant_id"');
      const rows = await em.getConnection().execute<Record<string, unknown>[]>(
        `select * from (select r.*, row_number() over (partition by r."task_id" order by r."scheduled_for" desc) as "position"
             from "task_runs" r where r."task_id" in (${taskIds.map(() => '?').join(', ')}) and ${tenant.sql}) ranked
           where "position" <= ? order by "scheduled_for" desc`,
        [...taskIds, ...tenant.params, Math.max(...wanted.map(({ last }) => last))],
      );
      const runs = rows.map(({ position: _position, ...row }) => em.map(TaskRun, row));
      return wanted.map(({ taskId, last }) => runs.filter((run) => run.taskId === taskId).slice(0, last));
    }),
  };
}

export type SchedulerLoaders = ReturnType<typeof createLoaders>;
