import { LockMode } from '@mikro-orm/postgresql';
import type { Database, EntityManager, Logger, OutboxRelay, WorkQueue } from '@nexusflow/kit';
import { Execution, ExecutionStatus, FINISHED_STATUSES } from '../entities/execution.entity.ts';
import { StepRun, StepRunStatus } from '../entities/step-run.entity.ts';
import { WorkflowVersion } from '../entities/workflow-version.entity.ts';
import { StepError, type StepOutcome, type StepRegistry } from '../steps/index.ts';
import { backoffDelay, type StepDefinition } from './definition.ts';
import { recordExecutionEvent, WorkflowEvent } from './events.ts';

/** A unit of work: run this attempt of this step of this execution. */
export interface StepMessage {
  executionId: string;
  stepKey: string;
  attempt: number;
}

export interface EngineOptions {
  database: Database;
  queue: WorkQueue<StepMessage>;
  steps: StepRegistry;
  relay: OutboxRelay;
  logger: Logger;
  /** Extra time a worker keeps a step beyond its timeout before another may take it over. @default 5000 */
  leaseMarginMs?: number;
  now?: () => number;
}

/**
 * Delivery delays come from a fixed ladder, rounded up: a broker keeps one delay queue per distinct
 * delay, and exact backoffs with jitter would create one per message. A delay beyond the last rung is
 * delivered in legs.
 */
const DELAY_LADDER_MS = [10, 25, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000];

export function deliveryDelay(remainingMs: number): number {
  if (remainingMs <= 0) return 0;
  return DELAY_LADDER_MS.find((rung) => rung >= remainingMs) ?? DELAY_LADDER_MS.at(-1)!;
}

export function stepRunKey(message: StepMessage): string {
  return `${message.executionId}:${message.stepKey}:${message.attempt}`;
}

type Claim = { kind: 'run'; stepRun: StepRun; step: StepDefinition; steps: StepDefinition[]; execution: Execution } | { kind: 'skip'; reason: string };

/**
 * Runs executions step by step. All state is in PostgreSQL and every step is a queue message, so any
 * worker in any process can carry an execution on, and a worker that dies mid-step costs a redelivery:
 * the attempt's idempotency key and its lease make sure one worker runs it, and a completed step is
 * never run again.
 */
export class ExecutionEngine {
  private readonly leaseMarginMs: number;
  private readonly now: () => number;

  constructor(private readonly options: EngineOptions) {
    this.leaseMarginMs = options.leaseMarginMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  /** Sends the execution's current step to the workers, honouring a pending delay. */
  async dispatch(execution: Pick<Execution, 'id' | 'currentStep' | 'currentAttempt' | 'resumeAt'>): Promise<void> {
    if (!execution.currentStep) return;
    const delayMs = execution.resumeAt ? deliveryDelay(execution.resumeAt.getTime() - this.now()) : 0;
    await this.options.queue.enqueue(
      { executionId: execution.id, stepKey: execution.currentStep, attempt: execution.currentAttempt },
      delayMs > 0 ? { delayMs } : undefined,
    );
  }

  async handle(message: StepMessage): Promise<void> {
    const em = this.options.database.fork();
    const claim = await this.claim(em, message);
    if (claim.kind === 'skip') {
      this.options.logger.debug({ ...message, reason: claim.reason }, 'step message skipped');
      return;
    }
    const outcome = await this.execute(em, claim);
    await this.settle(claim, outcome);
  }

  private async claim(em: EntityManager, message: StepMessage): Promise<Claim> {
    const execution = await em.findOne(Execution, message.executionId);
    if (!execution) return { kind: 'skip', reason: 'no such execution' };
    if (FINISHED_STATUSES.includes(execution.status)) return { kind: 'skip', reason: `execution ${execution.status.toLowerCase()}` };
    if (execution.status === ExecutionStatus.Paused) return { kind: 'skip', reason: 'execution paused; resuming dispatches again' };
    if (execution.currentStep !== message.stepKey || execution.currentAttempt !== message.attempt) {
      return { kind: 'skip', reason: 'stale message: the execution moved on' };
    }
    if (execution.resumeAt && execution.resumeAt.getTime() > this.now()) {
      // A delay longer than the longest delivery delay arrives in legs.
      await this.dispatch(execution);
      return { kind: 'skip', reason: 'not due yet; queued for the rest of the delay' };
    }
    const version = await em.findOne(WorkflowVersion, { workflowId: execution.workflowId, version: execution.workflowVersion });
    const step = version?.steps.find((candidate) => candidate.key === message.stepKey);
    if (!version || !step) {
      await this.fail(em, execution, message, `Step "${message.stepKey}" is not part of version ${execution.workflowVersion}`);
      return { kind: 'skip', reason: 'unknown step' };
    }

    const key = stepRunKey(message);
    const now = new Date(this.now());
    const leaseUntil = new Date(this.now() + step.timeoutMs + this.leaseMarginMs);
    const existing = await em.findOne(StepRun, { idempotencyKey: key });
    if (existing) {
      if (existing.status !== StepRunStatus.Running) {
        // Completed or failed, but the message came back: the process died after committing the
        // outcome and before acknowledging. The execution already moved on; make sure its next step is queued.
        await this.dispatch(execution);
        return { kind: 'skip', reason: 'attempt already settled' };
      }
      const takenOver = await em.nativeUpdate(StepRun, { id: existing.id, status: StepRunStatus.Running, leaseUntil: { $lt: now } }, { leaseUntil, startedAt: now });
      if (takenOver === 0) {
        // Its holder may be alive (a duplicate message) or dead (a redelivery): look again when the
        // lease runs out, and take the attempt over then if it is still unsettled.
        await this.options.queue.enqueue(message, { delayMs: deliveryDelay(existing.leaseUntil.getTime() - this.now() + 1) });
        return { kind: 'skip', reason: 'another worker holds the attempt; checking again when its lease ends' };
      }
      em.clear();
      const stepRun = await em.findOneOrFail(StepRun, existing.id);
      return { kind: 'run', stepRun, step, steps: version.steps, execution: await em.findOneOrFail(Execution, execution.id) };
    }
    const stepRun = em.create(StepRun, {
      executionId: execution.id,
      stepKey: step.key,
      stepType: step.type,
      attempt: message.attempt,
      idempotencyKey: key,
      status: StepRunStatus.Running,
      output: null,
      errorMessage: null,
      leaseUntil,
      startedAt: now,
      finishedAt: null,
    });
    try {
      await em.flush();
    } catch (error) {
      if ((error as { name?: string }).name === 'UniqueConstraintViolationException') return { kind: 'skip', reason: 'another worker claimed the attempt' };
      throw error;
    }
    return { kind: 'run', stepRun, step, steps: version.steps, execution };
  }

  private async execute(em: EntityManager, claim: Extract<Claim, { kind: 'run' }>): Promise<StepOutcome | StepError> {
    const { execution, step } = claim;
    const executor = this.options.steps.get(step.type);
    if (!executor) return new StepError(`No executor for step type "${step.type}"`, false);
    const completed = await em.find(StepRun, { executionId: execution.id, status: StepRunStatus.Completed }, { orderBy: { startedAt: 'asc' } });
    const outputs = Object.fromEntries(completed.map((run) => [run.stepKey, { output: run.output }]));
    const signal = AbortSignal.timeout(step.timeoutMs);
    try {
      return await executor.execute(step.config, {
        input: execution.input,
        steps: outputs,
        execution: { id: execution.id, workflowId: execution.workflowId, tenantId: execution.tenantId, ownerId: execution.ownerId ?? null },
        idempotencyKey: `${execution.id}:${step.key}`,
        signal,
      });
    } catch (error) {
      if (error instanceof StepError) return error;
      if (signal.aborted) return new StepError(`Step timed out after ${step.timeoutMs} ms`, true);
      this.options.logger.error({ err: error, executionId: execution.id, stepKey: step.key }, 'step executor failed unexpectedly');
      return new StepError('The step failed unexpectedly', true);
    }
  }

  /** Records the attempt's outcome and moves the execution on, in one transaction with its events. */
  private async settle(claim: Extract<Claim, { kind: 'run' }>, outcome: StepOutcome | StepError): Promise<void> {
    const em = this.options.database.fork();
    let dispatchNext: Execution | undefined;
    await em.transactional(async (tx) => {
      const execution = await tx.findOneOrFail(Execution, claim.execution.id, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const stepRun = await tx.findOneOrFail(StepRun, claim.stepRun.id);
      const now = new Date(this.now());
      stepRun.finishedAt = now;
      const attempt = { stepKey: claim.step.key, attempt: stepRun.attempt };

      if (outcome instanceof StepError) {
        stepRun.status = StepRunStatus.Failed;
        stepRun.errorMessage = outcome.message;
        if (FINISHED_STATUSES.includes(execution.status)) return;
        const retry = outcome.retryable && stepRun.attempt < claim.step.retry.maxAttempts;
        if (retry) {
          execution.currentAttempt = stepRun.attempt + 1;
          execution.resumeAt = new Date(this.now() + backoffDelay(claim.step.retry, stepRun.attempt));
          recordExecutionEvent(tx, WorkflowEvent.StepFailed, execution, { ...attempt, error: outcome.message });
          if (execution.status === ExecutionStatus.Running) dispatchNext = execution;
        } else {
          execution.status = ExecutionStatus.Failed;
          execution.errorMessage = outcome.message;
          execution.errorStep = claim.step.key;
          execution.finishedAt = now;
          recordExecutionEvent(tx, WorkflowEvent.StepFailed, execution, { ...attempt, error: outcome.message });
          recordExecutionEvent(tx, WorkflowEvent.ExecutionFailed, execution, { ...attempt, error: outcome.message });
        }
        return;
      }

      stepRun.status = StepRunStatus.Completed;
      stepRun.output = outcome.output ?? null;
      if (execution.status === ExecutionStatus.Cancelled) return;
      const next = this.nextStep(claim.steps, claim.step.key, outcome);
      execution.currentStep = next;
      execution.currentAttempt = 1;
      execution.resumeAt = outcome.kind === 'delayed' && next ? new Date(this.now() + outcome.delayMs) : null;
      recordExecutionEvent(tx, WorkflowEvent.StepCompleted, execution, attempt);
      if (!next) {
        execution.status = ExecutionStatus.Completed;
        execution.output = outcome.output ?? null;
        execution.finishedAt = now;
        recordExecutionEvent(tx, WorkflowEvent.ExecutionCompleted, execution);
      } else if (execution.status === ExecutionStatus.Running) {
        dispatchNext = execution;
      }
    });
    this.options.relay.notify();
    if (dispatchNext) await this.dispatch(dispatchNext);
  }

  private nextStep(steps: StepDefinition[], current: string, outcome: StepOutcome): string | null {
    if (outcome.kind === 'branched') return outcome.next;
    const index = steps.findIndex((step) => step.key === current);
    return steps[index + 1]?.key ?? null;
  }

  private async fail(em: EntityManager, execution: Execution, message: StepMessage, reason: string): Promise<void> {
    execution.status = ExecutionStatus.Failed;
    execution.errorMessage = reason;
    execution.errorStep = message.stepKey;
    execution.finishedAt = new Date(this.now());
    recordExecutionEvent(em, WorkflowEvent.ExecutionFailed, execution, { stepKey: message.stepKey, attempt: message.attempt, error: reason });
    await em.flush();
    this.options.relay.notify();
  }

  /**
   * Re-dispatches executions that are running but have not changed for `stallAfterMs`: their message
   * was lost (the broker was down when it was sent) or their worker died. Duplicates are harmless.
   */
  async sweep(stallAfterMs: number): Promise<number> {
    const em = this.options.database.fork();
    const threshold = new Date(this.now() - stallAfterMs);
    const stalled = await em.find(
      Execution,
      { status: ExecutionStatus.Running, updatedAt: { $lt: threshold }, $or: [{ resumeAt: null }, { resumeAt: { $lt: threshold } }] },
      { limit: 500 },
    );
    for (const execution of stalled) await this.dispatch(execution);
    return stalled.length;
  }
}
