import {
  checkRecurrence,
  isTimezone,
  isUuid,
  MisfirePolicy,
  nextOccurrence,
  pageSize,
  requireRole,
  Role,
  systemFork,
  upcomingOccurrences,
  WRITER_ROLES,
  type EntityManager,
  type Identity,
  type Recurrence,
} from '@nexusflow/kit';
import { z } from 'zod';
import { ScheduledTask, ScheduledTaskStatus } from '../entities/scheduled-task.entity.ts';
import { TaskRun, TaskRunStatus } from '../entities/task-run.entity.ts';
import { pathProblem, type TaskDelivery } from './delivery.ts';

export const READER_ROLES = [Role.Owner, Role.Admin, Role.Member, Role.Viewer] as const;

const MAX_PAGE = 100;
const MAX_PAYLOAD_BYTES = 64 * 1024;
/** How many of a cron task's next occurrences are checked against the minimum interval. */
const INTERVAL_SAMPLE = 50;

export interface TaskLimits {
  maxTasksPerTenant: number;
  minIntervalSeconds: number;
}

export interface TaskProblem {
  field: string;
  problem: string;
}

export type TaskResult =
  | ScheduledTask
  | { __typename: 'InvalidScheduledTask'; message: string; problems: TaskProblem[] }
  | { __typename: 'ScheduledTaskLimitReached'; message: string; limit: number }
  | { __typename: 'ScheduledTaskNotFound'; message: string; id: string };

const taskInputSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  target: z.string(),
  path: z.string(),
  payload: z.unknown().optional(),
  cron: z.string().trim().min(1, 'must not be empty').nullish(),
  timezone: z.string().nullish(),
  runAt: z.date().nullish(),
  maxAttempts: z.number().int().min(1, 'must be between 1 and 10').max(10, 'must be between 1 and 10').nullish(),
  timeoutSeconds: z.number().int().min(1, 'must be between 1 and 60').max(60, 'must be between 1 and 60').nullish(),
  misfirePolicy: z.enum([MisfirePolicy.Skip, MisfirePolicy.RunOnce]).nullish(),
});

/** How a task repeats, for the engine: null for a one-off. */
export function recurrenceOf(task: Pick<ScheduledTask, 'cron' | 'timezone'>): Recurrence | null {
  return task.cron ? { kind: 'cron', expression: task.cron, timezone: task.timezone } : null;
}

/** The next occurrences of a task, starting with its next run. */
export function upcomingRunsOf(task: ScheduledTask, count: number): Date[] {
  const size = Math.min(Math.max(count, 0), 50);
  if (!task.nextRunAt || size === 0) return [];
  const recurrence = recurrenceOf(task);
  return recurrence ? [task.nextRunAt, ...upcomingOccurrences(recurrence, task.nextRunAt, size - 1)] : [task.nextRunAt];
}

const notFound = (id: string) => ({ __typename: 'ScheduledTaskNotFound', message: `No scheduled task ${id}`, id }) as const;

/** The scheduled tasks of the caller's tenant: the request's unit of work sees no other tenant's. */
export class TaskService {
  constructor(
    private readonly delivery: TaskDelivery,
    private readonly limits: TaskLimits,
    private readonly now: () => Date,
  ) {}

  async list(em: EntityManager, identity: Identity, first: number): Promise<ScheduledTask[]> {
    requireRole(identity, READER_ROLES);
    const limit = pageSize(first, MAX_PAGE);
    if (limit === 0) return [];
    return em.find(ScheduledTask, { deletedAt: null }, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  async find(em: EntityManager, id: string): Promise<ScheduledTask | null> {
    if (!isUuid(id)) return null;
    return em.findOne(ScheduledTask, { id, deletedAt: null });
  }

  /**
   * Needs a writer role. The tenant's count and the insert run under a transaction-scoped advisory lock of the tenant,
   * so that creates racing each other cannot pass the limit together.
   */
  async create(em: EntityManager, identity: Identity, input: unknown): Promise<TaskResult> {
    const caller = requireRole(identity, WRITER_ROLES);
    const parsed = this.parse(input);
    if (!parsed.ok) return parsed.result;
    return em.transactional(async (tx) => {
      await tx
        .getConnection()
        .execute(
          'select pg_advisory_xact_lock(hashtextextended(?, 0))',
          [`scheduler:tasks:${caller.tenantId}`],
          'all',
          tx.getTransactionContext(),
        );
      const count = await tx.count(ScheduledTask, { deletedAt: null, status: { $ne: ScheduledTaskStatus.Completed } });
      if (count >= this.limits.maxTasksPerTenant) {
        return {
          __typename: 'ScheduledTaskLimitReached',
          message: `A tenant may have at most ${this.limits.maxTasksPerTenant} scheduled tasks`,
          limit: this.limits.maxTasksPerTenant,
        } as const;
      }
      const task = tx.create(ScheduledTask, {
        tenantId: caller.tenantId,
        createdBy: caller.userId,
        status: ScheduledTaskStatus.Active,
        lastRunAt: null,
        deletedAt: null,
        ...parsed.fields,
      });
      task.nextRunAt = this.firstRunOf(task);
      return task;
    });
  }

  async setStatus(em: EntityManager, identity: Identity, id: string, status: 'ACTIVE' | 'PAUSED'): Promise<TaskResult> {
    requireRole(identity, WRITER_ROLES);
    const task = await this.find(em, id);
    if (!task) return notFound(id);
    // A one-off task that has fired stays completed.
    if (task.status === ScheduledTaskStatus.Completed) return task;
    task.status = status;
    // Resuming starts from now: occurrences missed while paused were not wanted.
    task.nextRunAt = status === ScheduledTaskStatus.Active ? this.firstRunOf(task) : null;
    await em.flush();
    return task;
  }

  /** Deletes the task and cancels its runs not yet delivered, so that no attempt follows the deletion. */
  async delete(em: EntityManager, identity: Identity, id: string) {
    requireRole(identity, WRITER_ROLES);
    const task = await this.find(em, id);
    if (!task) return notFound(id);
    task.deletedAt = this.now();
    task.nextRunAt = null;
    await em.flush();
    await systemFork(em).nativeUpdate(
      TaskRun,
      { taskId: task.id, tenantId: task.tenantId, status: TaskRunStatus.Pending },
      { status: TaskRunStatus.Cancelled, nextAttemptAt: null, finishedAt: this.now() },
    );
    return { __typename: 'DeletedScheduledTask', id } as const;
  }

  /** A recurring task's next occurrence from now; a one-off's instant, or now when it passed while the task was paused. */
  private firstRunOf(task: ScheduledTask): Date {
    const recurrence = recurrenceOf(task);
    if (recurrence) return nextOccurrence(recurrence, this.now());
    return task.runAt! > this.now() ? task.runAt! : this.now();
  }

  private parse(input: unknown) {
    const invalid = (problems: TaskProblem[]) =>
      ({ ok: false, result: { __typename: 'InvalidScheduledTask', message: 'The scheduled task is invalid', problems } }) as const;
    const parsed = taskInputSchema.safeParse(input);
    if (!parsed.success) return invalid(parsed.error.issues.map((issue) => ({ field: issue.path.join('.'), problem: issue.message })));
    const { name, target, path, payload, cron, runAt } = parsed.data;
    const timezone = parsed.data.timezone ?? 'UTC';
    const problems: TaskProblem[] = [];
    if (!this.delivery.isTarget(target)) problems.push({ field: 'target', problem: `"${target}" is not a Nexus COS service` });
    const badPath = pathProblem(path);
    if (badPath) problems.push({ field: 'path', problem: badPath });
    if (payload !== undefined && Buffer.byteLength(JSON.stringify(payload) ?? 'null') > MAX_PAYLOAD_BYTES) {
      problems.push({ field: 'payload', problem: `must be at most ${MAX_PAYLOAD_BYTES} bytes of JSON` });
    }
    if ((cron ? 1 : 0) + (runAt ? 1 : 0) !== 1) problems.push({ field: 'cron', problem: 'give either cron or runAt' });
    if (!isTimezone(timezone)) problems.push({ field: 'timezone', problem: `"${timezone}" is not an IANA time zone` });
    else if (cron) problems.push(...this.cronProblems(cron, timezone));
    if (runAt && runAt.getTime() <= this.now().getTime()) problems.push({ field: 'runAt', problem: 'must be in the future' });
    if (problems.length > 0) return invalid(problems);
    return {
      ok: true,
      fields: {
        name,
        target,
        path,
        payload: payload ?? null,
        cron: cron ?? null,
        timezone,
        runAt: runAt ?? null,
        maxAttempts: parsed.data.maxAttempts ?? 5,
        timeoutSeconds: parsed.data.timeoutSeconds ?? 10,
        misfirePolicy: parsed.data.misfirePolicy ?? MisfirePolicy.RunOnce,
      },
    } as const;
  }

  private cronProblems(expression: string, timezone: string): TaskProblem[] {
    const recurrence: Recurrence = { kind: 'cron', expression, timezone };
    const check = checkRecurrence(recurrence);
    if (!check.ok) return [{ field: check.field, problem: check.problem }];
    const occurrences = upcomingOccurrences(recurrence, this.now(), INTERVAL_SAMPLE);
    const closest = Math.min(...occurrences.slice(1).map((at, index) => at.getTime() - occurrences[index]!.getTime()));
    return closest < this.limits.minIntervalSeconds * 1000
      ? [{ field: 'cron', problem: `must fire at most once every ${this.limits.minIntervalSeconds} seconds` }]
      : [];
  }
}
