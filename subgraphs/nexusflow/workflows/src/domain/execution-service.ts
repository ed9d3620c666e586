import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { requireRole, Role, WRITER_ROLES, type EntityManager, type Identity, type OutboxRelay } from '@nexusflow/kit';
import { Execution, ExecutionStatus } from '../entities/execution.entity.ts';
import { StepRun, StepRunStatus } from '../entities/step-run.entity.ts';
import { WorkflowStatus, type Workflow } from '../entities/workflow.entity.ts';
import type { ExecutionEngine } from './engine.ts';
import type { ExecutionQuotaGuard } from './execution-quota.ts';
import { afterCursor, PAGE_ORDER, pageSize, toConnection, type Connection } from './pagination.ts';
import { recordExecutionEvent, WorkflowEvent, workflowNameOf } from './events.ts';
import { workflowNotFound, type WorkflowService } from './workflow-service.ts';

type QuotaExceeded = { __typename: 'QuotaExceeded'; message: string; used: number; limit: number };

export type RunResult =
  Execution | ReturnType<typeof workflowNotFound> | { __typename: 'WorkflowPaused'; message: string; id: string } | QuotaExceeded;

export type TransitionResult =
  | Execution
  | { __typename: 'ExecutionNotFound'; message: string; id: string }
  | { __typename: 'InvalidExecutionTransition'; message: string; status: ExecutionStatus }
  | QuotaExceeded;

type Transition = 'pause' | 'resume' | 'cancel' | 'retry';

/** What a tenant is told when its plan allows no more runs this month. */
const quotaMessage = ({ used, limit }: { used: number; limit: number }) =>
  `Your plan allows ${limit} runs a month, and ${used} were started this month`;

const quotaExceeded = (exceeded: { used: number; limit: number }): QuotaExceeded => ({
  __typename: 'QuotaExceeded',
  message: quotaMessage(exceeded),
  ...exceeded,
});

/** Which statuses each transition starts from. */
const ALLOWED_FROM: Record<Transition, ExecutionStatus[]> = {
  pause: [ExecutionStatus.Queued, ExecutionStatus.Running],
  resume: [ExecutionStatus.Paused],
  cancel: [ExecutionStatus.Queued, ExecutionStatus.Running, ExecutionStatus.Paused],
  retry: [ExecutionStatus.Failed, ExecutionStatus.Cancelled],
};

export class ExecutionService {
  constructor(
    private readonly workflows: WorkflowService,
    private readonly engine: ExecutionEngine,
    private readonly relay: OutboxRelay,
    /** Unset: runs are not limited by plan (e.g. tests of the engine alone). */
    private readonly quota?: ExecutionQuotaGuard,
  ) {}

  /**
   * The execution as stored right now, bypassing the identity map and DataLoader caches a
   * long-lived subscription context would otherwise serve stale data from.
   */
  findCurrent(em: EntityManager, id: string): Promise<Execution | null> {
    return em.fork().findOne(Execution, { id });
  }

  async list(
    em: EntityManager,
    args: { workflowId: string; first?: number | null; after?: string | null; status?: ExecutionStatus | null },
  ): Promise<Connection<Execution>> {
    const size = pageSize(args.first);
    const rows = await em.find(
      Execution,
      { workflowId: args.workflowId, ...(args.status ? { status: args.status } : {}), ...afterCursor(args.after) },
      { orderBy: PAGE_ORDER, limit: size + 1 },
    );
    return toConnection(rows, size);
  }

  /**
   * Starts a run of the workflow's current version. With an idempotency key, asking twice starts one
   * run and returns it both times (a scheduler tick or a webhook delivery retried by its sender).
   */
  async run(em: EntityManager, identity: Identity, workflowId: string, input: unknown, idempotencyKey?: string | null): Promise<RunResult> {
    const user = requireRole(identity, WRITER_ROLES);
    const workflow = await this.workflows.find(em, workflowId);
    if (!workflow) return workflowNotFound(workflowId);
    if (idempotencyKey) {
      const existing = await em.findOne(Execution, { workflowId, idempotencyKey });
      if (existing) return existing;
    }
    if (workflow.status === WorkflowStatus.Paused) {
      return { __typename: 'WorkflowPaused', message: 'The workflow is paused; resume it to run it', id: workflowId };
    }
    const exceeded = await this.quota?.exceeded(user);
    if (exceeded) return quotaExceeded(exceeded);
    const { execution, started } = await this.start(em, workflow, {
      input,
      idempotencyKey: idempotencyKey ?? null,
      triggeredBy: user.userId,
    });
    if (started) this.quota?.started(user.tenantId);
    return execution;
  }

  /**
   * Starts a run a trigger asked for (an event, a webhook delivery) as {@link start} does, within the plan's quota as
   * runWorkflow is. Beyond it the run is recorded as failed without starting (not counted as a run, no step runs), under
   * the same idempotency key: the tenant sees why its automation did nothing in its runs and its failure notifications,
   * and a redelivery of the same event or webhook refuses nothing twice.
   */
  async startTriggered(
    em: EntityManager,
    workflow: Workflow,
    { input, idempotencyKey }: { input: unknown; idempotencyKey: string },
  ): Promise<{ execution: Execution; started: boolean }> {
    // Billing is asked as the owner, the one the run is counted to, with the least role that may run a workflow.
    const exceeded = await this.quota?.exceeded({
      kind: 'user',
      userId: workflow.ownerId,
      tenantId: workflow.tenantId,
      roles: [Role.Member],
    });
    if (exceeded) return this.refuse(em, workflow, { input, idempotencyKey, reason: `Not started: ${quotaMessage(exceeded)}` });
    const run = await this.start(em, workflow, { input, idempotencyKey, triggeredBy: null });
    if (run.started) this.quota?.started(workflow.tenantId);
    return run;
  }

  private async refuse(
    em: EntityManager,
    workflow: Workflow,
    { input, idempotencyKey, reason }: { input: unknown; idempotencyKey: string; reason: string },
  ): Promise<{ execution: Execution; started: false }> {
    const now = new Date();
    const execution = em.create(Execution, {
      tenantId: workflow.tenantId,
      workflowId: workflow.id,
      workflowVersion: workflow.version,
      status: ExecutionStatus.Failed,
      input: input ?? null,
      output: null,
      errorMessage: reason,
      errorStep: null,
      // Where a retry, once the plan allows it, starts the run.
      currentStep: workflow.steps[0]!.key,
      currentAttempt: 1,
      resumeAt: null,
      revision: 0,
      triggeredBy: null,
      ownerId: workflow.ownerId,
      idempotencyKey,
      startedAt: null,
      finishedAt: now,
    });
    recordExecutionEvent(em, WorkflowEvent.ExecutionFailed, execution, { workflowName: workflow.name });
    try {
      await em.flush();
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) {
        return { execution: await em.fork().findOneOrFail(Execution, { workflowId: workflow.id, idempotencyKey }), started: false };
      }
      throw error;
    }
    this.relay.notify();
    return { execution, started: false };
  }

  /**
   * Starts a run of `workflow`'s current version, whoever asked (a person, a trigger). The idempotency key is unique per
   * workflow in the database, so a second start with the same key, even a concurrent one, returns the first run instead
   * (`started: false`).
   */
  async start(
    em: EntityManager,
    workflow: Workflow,
    { input, idempotencyKey, triggeredBy }: { input: unknown; idempotencyKey: string | null; triggeredBy: string | null },
  ): Promise<{ execution: Execution; started: boolean }> {
    const workflowId = workflow.id;
    const now = new Date();
    const execution = em.create(Execution, {
      tenantId: workflow.tenantId,
      workflowId: workflow.id,
      workflowVersion: workflow.version,
      status: ExecutionStatus.Running,
      input: input ?? null,
      output: null,
      errorMessage: null,
      errorStep: null,
      currentStep: workflow.steps[0]!.key,
      currentAttempt: 1,
      resumeAt: null,
      revision: 0,
      triggeredBy,
      ownerId: workflow.ownerId,
      idempotencyKey,
      startedAt: now,
      finishedAt: null,
    });
    recordExecutionEvent(em, WorkflowEvent.ExecutionStarted, execution, { workflowName: workflow.name });
    try {
      await em.flush();
    } catch (error) {
      if (idempotencyKey && error instanceof UniqueConstraintViolationException) {
        return { execution: await em.fork().findOneOrFail(Execution, { workflowId, idempotencyKey }), started: false };
      }
      throw error;
    }
    this.relay.notify();
    // Never waits for a broker that is down: the run is recorded, and its first step is sent once the broker is back.
    await this.engine.dispatch(execution);
    return { execution, started: true };
  }

  /**
   * A retry is a new execution attempt, as runWorkflow is a first one: it is refused beyond the plan's quota, and once
   * made its `workflow.execution.started` counts it as a run in billing.
   */
  async transition(em: EntityManager, identity: Identity, id: string, transition: Transition): Promise<TransitionResult> {
    const user = requireRole(identity, WRITER_ROLES);
    if (transition === 'retry') {
      // Asked before the lock, not under it: billing may take a moment. The status is checked again under the lock.
      const execution = await this.findCurrent(em, id);
      const exceeded = execution && ALLOWED_FROM.retry.includes(execution.status) ? await this.quota?.exceeded(user) : null;
      if (exceeded) return quotaExceeded(exceeded);
    }
    // Locked like the engine locks it to settle a step or fire a timer, so that a change never works from a stale state.
    const outcome = await em.transactional(async (tx): Promise<TransitionResult> => {
      const execution = await tx.findOne(Execution, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!execution) return { __typename: 'ExecutionNotFound', message: `No execution ${id}`, id };
      if (!ALLOWED_FROM[transition].includes(execution.status)) {
        return {
          __typename: 'InvalidExecutionTransition',
          message: `A ${execution.status.toLowerCase()} execution cannot ${transition}`,
          status: execution.status,
        };
      }
      // A cancelled run's step may still be in flight: a retry would start its next attempt beside it, and a call with
      // side effects (a charge) would be made twice at once. Its worker settles it, or its lease runs out if it died.
      if (transition === 'retry' && (await this.stepInFlight(tx, execution))) {
        return {
          __typename: 'InvalidExecutionTransition',
          message: 'A step of this execution is still running; retry it once the step has finished',
          status: execution.status,
        };
      }
      await this.apply(tx, execution, transition);
      return execution;
    });
    if (!(outcome instanceof Execution)) return outcome;
    this.relay.notify();
    if (transition === 'retry') this.quota?.started(outcome.tenantId);
    if (transition === 'resume' || transition === 'retry') await this.engine.dispatch(outcome);
    return outcome;
  }

  private async stepInFlight(tx: EntityManager, execution: Execution): Promise<boolean> {
    const running = { executionId: execution.id, status: StepRunStatus.Running, leaseUntil: { $gt: new Date() } };
    return (await tx.count(StepRun, running)) > 0;
  }

  private async apply(tx: EntityManager, execution: Execution, transition: Transition): Promise<void> {
    const workflowName = await workflowNameOf(tx, execution);
    switch (transition) {
      case 'pause':
        // A wait goes on while paused: when it ends, the execution holds at the step boundary that follows.
        execution.status = ExecutionStatus.Paused;
        recordExecutionEvent(tx, WorkflowEvent.ExecutionPaused, execution, { workflowName });
        return;
      case 'resume':
        execution.status = ExecutionStatus.Running;
        recordExecutionEvent(tx, WorkflowEvent.ExecutionResumed, execution, { workflowName });
        return;
      case 'cancel': {
        const now = new Date();
        // A wait is cut short: nothing follows it, and its step did not complete.
        await tx.nativeUpdate(
          StepRun,
          { executionId: execution.id, status: StepRunStatus.Waiting },
          { status: StepRunStatus.Failed, errorMessage: 'The execution was cancelled while the step waited', finishedAt: now },
        );
        execution.status = ExecutionStatus.Cancelled;
        execution.resumeAt = null;
        execution.finishedAt = now;
        recordExecutionEvent(tx, WorkflowEvent.ExecutionCancelled, execution, { workflowName });
        return;
      }
      case 'retry': {
        // Continues from the step that failed (or was next), keeping completed steps' outputs. That step gets a fresh
        // set of attempts under its retry policy; attempt numbers carry on, so every attempt keeps its own row and key.
        const step = execution.errorStep ?? execution.currentStep;
        const attemptsMade = step ? await tx.count(StepRun, { executionId: execution.id, stepKey: step }) : 0;
        Object.assign(execution, {
          status: ExecutionStatus.Running,
          currentStep: step,
          currentAttempt: attemptsMade + 1,
          uncountedAttempts: attemptsMade,
          resumeAt: null,
          errorMessage: null,
          errorStep: null,
          // A run refused by the quota when its trigger fired starts now.
          startedAt: execution.startedAt ?? new Date(),
          finishedAt: null,
        });
        recordExecutionEvent(tx, WorkflowEvent.ExecutionStarted, execution, { workflowName });
        return;
      }
    }
  }
}
