import { isUuid, requireRole, WRITER_ROLES, type EntityManager, type Identity } from '@nexusflow/kit';
import { z } from 'zod';
import { MisfirePolicy, Schedule, ScheduleStatus } from '../entities/schedule.entity.ts';
import { checkRecurrence, isTimezone, nextOccurrence, type Recurrence } from '@nexusflow/kit';
import type { WorkflowsClient } from './workflows-client.ts';

export interface ScheduleProblem {
  field: string;
  problem: string;
}

export type ScheduleResult =
  | Schedule
  | { __typename: 'InvalidSchedule'; message: string; problems: ScheduleProblem[] }
  | { __typename: 'ScheduleNotFound'; message: string; id: string };

const scheduleInputSchema = z
  .object({
    workflowId: z.uuid('is not a workflow id'),
    name: z.string().trim().min(1, 'must not be empty').max(200),
    // The columns' room: longer, a valid expression failed as an internal error when it was stored.
    cron: z.string().trim().min(1).max(255, 'must be at most 255 characters').nullish(),
    intervalSeconds: z.number().int().positive('must be a positive number of seconds').nullish(),
    timezone: z.string().max(255, 'must be at most 255 characters').nullish(),
    input: z.unknown().optional(),
    misfirePolicy: z.enum([MisfirePolicy.Skip, MisfirePolicy.RunOnce]).nullish(),
  })
  .refine((input) => (input.cron ? 1 : 0) + (input.intervalSeconds != null ? 1 : 0) === 1, {
    message: 'give either cron or intervalSeconds',
    path: ['cron'],
  });

export function recurrenceOf(schedule: Pick<Schedule, 'cron' | 'intervalSeconds' | 'timezone' | 'createdAt'>): Recurrence {
  return schedule.cron
    ? { kind: 'cron', expression: schedule.cron, timezone: schedule.timezone }
    : { kind: 'interval', seconds: schedule.intervalSeconds!, anchor: schedule.createdAt };
}

const notFound = (id: string) => ({ __typename: 'ScheduleNotFound', message: `No schedule ${id}`, id }) as const;

export class ScheduleService {
  constructor(
    private readonly workflows: WorkflowsClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Other tenants' schedules are never found: the unit of work is scoped to the caller's tenant. */
  async find(em: EntityManager, id: string): Promise<Schedule | null> {
    if (!isUuid(id)) return null;
    return em.findOne(Schedule, { id, deletedAt: null });
  }

  async list(em: EntityManager, workflowId?: string | null): Promise<Schedule[]> {
    return em.find(
      Schedule,
      { deletedAt: null, ...(workflowId ? { workflowId } : {}) },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit: 500 },
    );
  }

  async create(em: EntityManager, identity: Identity, input: unknown): Promise<ScheduleResult> {
    const user = requireRole(identity, WRITER_ROLES);
    const parsed = await this.parse(identity, input);
    if (!parsed.ok) return parsed.result;
    const schedule = em.create(Schedule, {
      tenantId: user.tenantId,
      createdBy: user.userId,
      status: ScheduleStatus.Active,
      nextRunAt: null,
      lastRunAt: null,
      claimedUntil: null,
      deletedAt: null,
      ...parsed.fields,
      createdAt: this.now(),
    });
    schedule.nextRunAt = nextOccurrence(recurrenceOf(schedule), this.now());
    await em.flush();
    return schedule;
  }

  async update(em: EntityManager, identity: Identity, id: string, input: unknown): Promise<ScheduleResult> {
    requireRole(identity, WRITER_ROLES);
    const schedule = await this.find(em, id);
    if (!schedule) return notFound(id);
    const parsed = await this.parse(identity, input);
    if (!parsed.ok) return parsed.result;
    Object.assign(schedule, parsed.fields);
    if (schedule.status === ScheduleStatus.Active) schedule.nextRunAt = nextOccurrence(recurrenceOf(schedule), this.now());
    // A tick of the old definition still being retried is given up: the replacement's ticks are its own.
    schedule.claimedUntil = null;
    await em.flush();
    return schedule;
  }

  async setStatus(em: EntityManager, identity: Identity, id: string, status: ScheduleStatus): Promise<ScheduleResult> {
    requireRole(identity, WRITER_ROLES);
    const schedule = await this.find(em, id);
    if (!schedule) return notFound(id);
    schedule.status = status;
    // Resuming starts from now: ticks missed while paused were not wanted.
    schedule.nextRunAt = status === ScheduleStatus.Active ? nextOccurrence(recurrenceOf(schedule), this.now()) : null;
    schedule.claimedUntil = null;
    await em.flush();
    return schedule;
  }

  async delete(em: EntityManager, identity: Identity, id: string) {
    requireRole(identity, WRITER_ROLES);
    const schedule = await this.find(em, id);
    if (!schedule) return notFound(id);
    schedule.deletedAt = this.now();
    schedule.nextRunAt = null;
    await em.flush();
    return { __typename: 'DeletedSchedule', id } as const;
  }

  private async parse(identity: Identity, input: unknown) {
    const invalid = (problems: ScheduleProblem[]) =>
      ({ ok: false, result: { __typename: 'InvalidSchedule', message: 'The schedule is invalid', problems } }) as const;
    const parsed = scheduleInputSchema.safeParse(input);
    if (!parsed.success) return invalid(parsed.error.issues.map((issue) => ({ field: issue.path.join('.'), problem: issue.message })));
    const { workflowId, name, cron, intervalSeconds, input: runInput, misfirePolicy } = parsed.data;
    const timezone = parsed.data.timezone ?? 'UTC';
    const recurrence: Recurrence = cron
      ? { kind: 'cron', expression: cron, timezone }
      : { kind: 'interval', seconds: intervalSeconds!, anchor: this.now() };
    const check = checkRecurrence(recurrence);
    if (!check.ok) return invalid([{ field: check.field, problem: check.problem }]);
    // An interval keeps no time zone in its reckoning, but the schedule shows the one given: it must be one.
    if (!isTimezone(timezone)) return invalid([{ field: 'timezone', problem: `"${timezone}" is not an IANA time zone` }]);
    if (!(await this.workflows.exists(identity, workflowId))) return invalid([{ field: 'workflowId', problem: 'no such workflow' }]);
    return {
      ok: true,
      fields: {
        workflowId,
        name,
        cron: cron ?? null,
        intervalSeconds: intervalSeconds ?? null,
        timezone,
        input: runInput ?? null,
        misfirePolicy: misfirePolicy ?? MisfirePolicy.RunOnce,
      },
    } as const;
  }
}
