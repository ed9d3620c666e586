import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockMode } from '@mikro-orm/postgresql';
import {
  isDependencyOutage,
  newOutboxEvent,
  storableText,
  storableValue,
  systemFork,
  type Database,
  type EntityManager,
  type Logger,
  type OutboxEventValues,
  type OutboxRelay,
  type WorkQueue,
} from '@nexusflow/kit';
import { Execution, ExecutionStatus, FINISHED_STATUSES } from '../entities/execution.entity.ts';
import { StepRun, StepRunStatus } from '../entities/step-run.entity.ts';
import { WorkflowVersion } from '../entities/workflow-version.entity.ts';
import { StepError, type StepOutcome, type StepRegistry } from '../steps/index.ts';
import { retryDelay, type StepDefinition } from './definition.ts';
import { executionEvent, recordExecutionEvent, WorkflowEvent, type ExecutionEventDetails } from './events.ts';
import { StepSender, type StepMessage } from './step-sender.ts';
import { WakeUps } from './wake-ups.ts';

export type { StepMessage } from './step-sender.ts';

export interface EngineOptions {
  database: Database;
  queue: WorkQueue<StepMessage>;
  steps: StepRegistry;
  relay: OutboxRelay;
  logger: Logger;
  /** Extra time a worker keeps a step beyond its timeout before another may take it over. @default 5000 */
  leaseMarginMs?: number;
  /**
   * How many steps of an execution one message runs in a row: the statement that settles a step claims the next one
   * for this worker, which runs it without a queue round trip; then the execution goes back to the queue, behind the
   * other executions waiting there. 1 sends every step through the queue. @default 16
   */
  stepsPerMessage?: number;
  /**
   * This process's name in the leases it takes; a process started again under the same name takes over at once what
   * its predecessor left running. It must name one live process. @default a random id (no predecessor is recognised)
   */
  workerId?: string;
  /** Due timers are looked for at least this often, beyond the wake-ups this process arms itself. @default 1000 */
  timerPollIntervalMs?: number;
  /**
   * The longest a step's Retry-After hint (a provider's 429) may put its next attempt off, beyond its backoff.
   * @default 900000 (15 minutes)
   */
  maxRetryAfterMs?: number;
  now?: () => number;
}

const DEFAULT_MAX_RETRY_AFTER_MS = 15 * 60_000;
/** Timers fired per transaction. */
const TIMER_BATCH = 100;
/** The first and the longest pause between tries to record an outcome while the database is unreachable. */
const SETTLE_RETRY_FIRST_MS = 100;
const SETTLE_RETRY_MAX_MS = 1000;
/**
 * How long a run of steps for one message may last before its execution goes back to the queue: the message is
 * acknowledged when the run ends, and RabbitMQ closes a channel whose message is unacknowledged for 30 minutes (its
 * default `consumer_timeout`). A step is run in a row only if its lease ends within this time of the run's start.
 */
const RUN_OF_STEPS_BUDGET_MS = 15 * 60_000;
/** Executions whose timers fire: a paused one's delay ends too, and it holds at the step boundary that follows. */
const TIMED_STATUSES: ExecutionStatus[] = [ExecutionStatus.Running, ExecutionStatus.Paused];

export function stepRunKey(message: StepMessage): string {
  return `${message.executionId}:${message.stepKey}:${message.attempt}`;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, '\\$&');

/** What the engine needs of a workflow version; versions never change once written. */
type VersionFacts = Pick<WorkflowVersion, 'name' | 'steps'>;
/** Versions kept in memory; beyond it the least recently stored is dropped. */
const VERSION_CACHE_SIZE = 1000;
/** Stalled executions a sweep sends again, the longest stalled first; the rest wait for the next pass. */
const SWEEP_PAGE = 500;

/** The attempt a claim holds: its row, and the lease it took (a takeover by another worker changes it). */
interface HeldAttempt {
  id: string;
  attempt: number;
  leaseUntil: Date;
}

/** An execution's state as the engine reads and changes it: an entity in a transaction, or the row a claim read. */
type ExecutionState = Pick<
  Execution,
  | 'id'
  | 'tenantId'
  | 'workflowId'
  | 'workflowVersion'
  | 'ownerId'
  | 'status'
  | 'input'
  | 'output'
  | 'errorMessage'
  | 'errorStep'
  | 'currentStep'
  | 'currentAttempt'
  | 'uncountedAttempts'
  | 'resumeAt'
  | 'revision'
  | 'finishedAt'
>;

/** Records an execution's event: into a transaction's unit of work, or into the rows a single statement writes. */
type RecordEvent = (type: WorkflowEvent, execution: ExecutionState, details?: ExecutionEventDetails) => void;

/** The outputs of an execution's completed steps, by step key, as templates and conditions read them. */
type StepOutputs = Record<string, { output: unknown }>;

/** An attempt this worker holds and is to run: the step, and the execution's state as the attempt started. */
interface RunClaim {
  kind: 'run';
  attempt: HeldAttempt;
  step: StepDefinition;
  version: VersionFacts;
  execution: ExecutionState;
  outputs?: StepOutputs;
}

type Claim = RunClaim | { kind: 'skip'; reason: string };

interface ClaimedExecutionRow {
  id: string;
  tenant_id: string;
  workflow_id: string;
  workflow_version: number;
  owner_id: string | null;
  status: ExecutionStatus;
  input: unknown;
  output: unknown;
  error_message: string | null;
  error_step: string | null;
  current_step: string | null;
  current_attempt: number;
  attempts_before_retry: number;
  resume_at: Date | string | null;
  revision: number;
  finished_at: Date | string | null;
  outputs: [string, unknown][] | null;
}

/** The execution and its completed steps' outputs, from a row of CLAIM_READ_SQL. */
function claimedExecution(row: ClaimedExecutionRow): { execution: ExecutionState; outputs: StepOutputs } {
  const execution: ExecutionState = {
    id: row.id,
    tenantId: row.tenant_id,
    workflowId: row.workflow_id,
    workflowVersion: row.workflow_version,
    ownerId: row.owner_id,
    status: row.status,
    input: row.input,
    output: row.output,
    errorMessage: row.error_message,
    errorStep: row.error_step,
    currentStep: row.current_step,
    currentAttempt: row.current_attempt,
    uncountedAttempts: row.attempts_before_retry,
    resumeAt: dateOrNull(row.resume_at),
    revision: row.revision,
    finishedAt: dateOrNull(row.finished_at),
  };
  return { execution, outputs: outputsOf(row.outputs ?? []) };
}

/** Later runs of a step (a branch that went back to it) come later, and stand for it. */
const outputsOf = (runs: [string, unknown][]): StepOutputs => Object.fromEntries(runs.map(([key, output]) => [key, { output }]));

const dateOrNull = (value: Date | string | null) => (value === null ? null : new Date(value));

/** A JSON column's parameter: its text, cast to jsonb by the statement (an array parameter would be taken for a SQL array). */
const jsonParameter = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

/** The execution as the claim needs it, and the outputs of its completed steps, in the order they started: one round trip. */
const CLAIM_READ_SQL = `select e."id", e."tenant_id", e."workflow_id", e."workflow_version", e."owner_id", e."status", e."input", e."output",
  e."error_message", e."error_step", e."current_step", e."current_attempt", e."attempts_before_retry", e."resume_at", e."revision",
  e."finished_at",
  (select json_agg(json_build_array(s."step_key", s."output") order by s."started_at") from "step_runs" s
   where s."execution_id" = e."id" and s."status" = ?) as "outputs"
  from "executions" e where e."id" = ?`;

/** The columns an attempt starts with, in the order {@link ExecutionEngine.startAttempt} gives their values. */
const STARTED_ATTEMPT_COLUMNS = `"id", "execution_id", "step_key", "step_type", "attempt", "idempotency_key", "status", "lease_until",
  "lease_owner", "started_at"`;
const STARTED_ATTEMPT_VALUES = '?, ?, ?, ?, ?, ?, ?, ?, ?, ?';

/**
 * The claim in one statement, when the message names the workflow version and it is cached (so the step's type and
 * timeout are known before the execution is read): reads the execution and its completed outputs as CLAIM_READ_SQL
 * does and, only if the execution runs this version and is at this step and attempt without waiting, inserts the attempt
 * (`on conflict do nothing`, as CLAIM_INSERT_SQL). Says whether it inserted; otherwise the claim goes the long way.
 */
const CLAIM_AT_ONCE_SQL = `with "execution" as (${CLAIM_READ_SQL}), "claimed" as (
  insert into "step_runs" (${STARTED_ATTEMPT_COLUMNS})
  select ${STARTED_ATTEMPT_VALUES} from "execution"
  where "execution"."workflow_id" = ? and "execution"."workflow_version" = ? and "execution"."status" = ?
  and "execution"."current_step" = ? and "execution"."current_attempt" = ? and "execution"."resume_at" is null
  on conflict ("idempotency_key") do nothing returning "id")
  select "execution".*, exists (select 1 from "claimed") as "claimed" from "execution"`;

/** The first delivery of an attempt, by far the most common, starts it in this one statement. */
const CLAIM_INSERT_SQL = `insert into "step_runs" (${STARTED_ATTEMPT_COLUMNS}) values (${STARTED_ATTEMPT_VALUES})
  on conflict ("idempotency_key") do nothing returning "id"`;

/**
 * Settles a completed step in one statement, locking as the settling transaction does (the execution, then the
 * attempt): only if the execution is still as the claim read it (its revision, which every change moves on) and the
 * attempt is still held under the claim's lease. Then it moves the execution on, completes the attempt and writes
 * the events, all or nothing; otherwise it changes nothing and says so.
 */
function settleAtOnceSql(events: number, claimNext: boolean): string {
  const rows = Array.from({ length: events }, () => '(?::uuid, ?::varchar, ?::varchar, ?::jsonb, ?::timestamptz)').join(', ');
  // The next step's attempt, under this worker's lease, as CLAIM_INSERT_SQL inserts it, once the execution has moved on.
  const claimed = claimNext
    ? `, "claimed" as (
    insert into "step_runs" (${STARTED_ATTEMPT_COLUMNS}) select ${STARTED_ATTEMPT_VALUES} where exists (select 1 from "moved")
    on conflict ("idempotency_key") do nothing returning "id"
  )`
    : '';
  return `with "execution" as (
    select "id" from "executions" where "id" = ? and "revision" = ? and "status" = ? and "current_step" = ? and "current_attempt" = ?
    and "resume_at" is null for update
  ), "held" as (
    select "id" from "step_runs" where "id" = ? and "status" = ? and "lease_owner" = ? and "lease_until" = ?
    and exists (select 1 from "execution") for update
  ), "moved" as (
    update "executions" set "status" = ?, "current_step" = ?, "current_attempt" = ?, "attempts_before_retry" = ?, "resume_at" = null,
    "output" = ?::jsonb, "finished_at" = ?, "revision" = ?, "updated_at" = ?
    where "id" in (select "id" from "execution") and exists (select 1 from "held") returning "id"
  ), "settled" as (
    update "step_runs" set "status" = ?, "output" = ?::jsonb, "finished_at" = ?
    where "id" in (select "id" from "held") and exists (select 1 from "moved") returning "id", "output"
  ), "recorded" as (
    insert into "outbox_events" ("event_id", "type", "tenant_id", "payload", "occurred_at")
    select * from (values ${rows}) as "event" where exists (select 1 from "moved") returning 1
  )${claimed}
  select (select count(*) from "moved")::int as "moved", (select count(*) from "settled")::int as "settled",
  ${claimNext ? '(select count(*) from "claimed")::int as "claimed", (select "output" from "settled")' : '0 as "claimed", null'} as "output"`;
}

/**
 * Runs executions step by step. All state is in PostgreSQL and every step is a queue message, so any worker in any
 * process can carry an execution on. An attempt's key and its lease make sure one worker runs it, and a completed step
 * is never run again. A worker that dies mid-step costs its attempt: once the lease runs out, the attempt is recorded
 * as abandoned and the next attempt runs the step again, so that every run of a step is an attempt on record; the
 * step's idempotency key, the same for all its attempts, lets whoever receives its effect apply it once.
 *
 * The database, not the broker, says which step is due: see {@link StepSender}. A message names an execution to carry
 * on; one for a step the execution has moved past carries on its current step.
 *
 * A worker that completes a step claims the next one in the statement that settles it, and runs it at once, up to
 * `stepsPerMessage` steps in a row; the queue message it started from is acknowledged when the run of steps ends. Should
 * the worker die meanwhile, the broker delivers that message again, to a worker that finds the current attempt held
 * and takes it over when its lease ends, as after a crash in any step.
 *
 * Waits (delay steps, the backoff before a retry) are durable timers: the due time is stored with the execution, and
 * every process wakes when the earliest one it knows of is due, fires the due ones in a transaction that locks them
 * (`FOR UPDATE SKIP LOCKED`, so that each fires in exactly one process), and only then queues the step that follows.
 */
export class ExecutionEngine {
  private readonly leaseMarginMs: number;
  private readonly stepsPerMessage: number;
  private readonly maxRetryAfterMs: number;
  private readonly now: () => number;
  private readonly workerId: string;
  /** `<worker id>/<process id>`: this process in the leases it takes, told apart from its predecessors under the same id. */
  private readonly leaseOwner: string;
  private readonly wakeUps: WakeUps;
  private readonly sender: StepSender;
  /** Attempts found held by another worker, to be sent again once their lease ends, by attempt key. */
  private readonly leaseChecks = new Map<string, { message: StepMessage; at: number }>();
  /** Spares a query per step and per timer: `<workflow id>:<version>` → the version. */
  private readonly versions = new Map<string, VersionFacts>();
  /**
   * Attempts (step-run ids) whose outcome this process has and is recording: not to be taken over by this process,
   * even once their lease ran out during a database outage, since the outcome is recorded as soon as it is back.
   */
  private readonly settling = new Set<string>();
  /** Aborted by stop(): ends the waits of outcomes held up by a database outage. */
  private readonly stopping = new AbortController();

  constructor(private readonly options: EngineOptions) {
    this.leaseMarginMs = options.leaseMarginMs ?? 5000;
    this.stepsPerMessage = options.stepsPerMessage ?? 16;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    this.now = options.now ?? Date.now;
    this.workerId = options.workerId ?? randomUUID();
    this.leaseOwner = `${this.workerId}/${randomUUID()}`;
    this.wakeUps = new WakeUps({
      work: () => this.runDueWork(),
      ...(options.timerPollIntervalMs === undefined ? {} : { pollIntervalMs: options.timerPollIntervalMs }),
      logger: options.logger,
      now: this.now,
    });
    this.sender = new StepSender({ database: options.database, queue: options.queue, logger: options.logger, now: this.now });
  }

  /**
   * Takes over what a previous run of this process left in flight, then starts the timers (overdue ones fire at once)
   * and listens for the broker's return after an outage.
   */
  async start(): Promise<void> {
    this.sender.start();
    await this.recoverInterrupted();
    this.wakeUps.start();
  }

  /** Stops the timers, waiting for a pass in flight; their state is in the database for the next start. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.sender.stop();
    await this.wakeUps.stop();
    this.leaseChecks.clear();
  }

  /**
   * Sends the execution's current step to the workers, or, while it waits, makes sure its timer wakes this process.
   * The execution is committed already, so this never fails: a message the broker cannot take now (it is down) is
   * not waited for, since every process sends what is due again as soon as the broker is back (and the sweeper
   * remains for what no live process knows of).
   */
  async dispatch(
    execution: Pick<Execution, 'id' | 'currentStep' | 'currentAttempt' | 'resumeAt'> &
      Partial<Pick<Execution, 'workflowId' | 'workflowVersion'>>,
  ): Promise<void> {
    if (!execution.currentStep) return;
    if (execution.resumeAt) {
      this.wakeUps.wakeAt(execution.resumeAt.getTime());
      return;
    }
    await this.sender.send({
      executionId: execution.id,
      stepKey: execution.currentStep,
      attempt: execution.currentAttempt,
      ...(execution.workflowId === undefined ? {} : { workflowId: execution.workflowId, workflowVersion: execution.workflowVersion }),
    });
  }

  /**
   * Runs the step the message names, and the steps that follow in a row. `redelivered`: the broker delivers the message
   * again, its consumer having died before acknowledging it.
   */
  async handle(message: StepMessage, { redelivered = false }: { redelivered?: boolean } = {}): Promise<void> {
    const claim = await this.claim(systemFork(this.options.database), message, redelivered);
    if (claim.kind === 'skip') {
      this.options.logger.debug({ ...message, reason: claim.reason }, 'step message skipped');
      return;
    }
    const chainUntil = this.now() + RUN_OF_STEPS_BUDGET_MS;
    let held: RunClaim | undefined = claim;
    for (let run = 1; held; run += 1) {
      const running: RunClaim = held;
      const outcome = await this.execute(running);
      this.settling.add(running.attempt.id);
      try {
        const claimNext = run < this.stepsPerMessage && !this.stopping.signal.aborted ? chainUntil : undefined;
        held = await this.settleOnceReachable(running, outcome, claimNext);
      } finally {
        this.settling.delete(running.attempt.id);
      }
    }
  }

  /**
   * Records the outcome, trying again while the database is unreachable: the step has had its effect, and giving the
   * outcome up would have the step run again once its lease ran out. Gives up only when this process stops, or when
   * another worker took the attempt over meanwhile (settle() then drops the outcome). Returns the next step's attempt
   * when it claimed it for this worker: only with `claimNext`, the time by which the next step's lease must end.
   */
  private async settleOnceReachable(
    claim: RunClaim,
    outcome: StepOutcome | StepError,
    claimNext: number | undefined,
  ): Promise<RunClaim | undefined> {
    for (let pauseMs = SETTLE_RETRY_FIRST_MS; ; pauseMs = Math.min(pauseMs * 2, SETTLE_RETRY_MAX_MS)) {
      try {
        return await this.settle(claim, outcome, claimNext);
      } catch (error) {
        if (!isDependencyOutage(error) || this.stopping.signal.aborted) throw error;
        this.options.logger.warn(
          { err: error, executionId: claim.execution.id, stepKey: claim.step.key, attempt: claim.attempt.attempt },
          'could not record a step outcome; trying again',
        );
        await sleep(pauseMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
  }

  private async claim(em: EntityManager, message: StepMessage, redelivered: boolean): Promise<Claim> {
    const claimed = await this.claimAtOnce(em, message);
    if (claimed) return claimed;
    const read = await this.readForClaim(em, message.executionId);
    if (!read) return { kind: 'skip', reason: 'no such execution' };
    const { execution, outputs } = read;
    if (FINISHED_STATUSES.includes(execution.status)) return { kind: 'skip', reason: `execution ${execution.status.toLowerCase()}` };
    if (execution.status === ExecutionStatus.Paused) return { kind: 'skip', reason: 'execution paused; resuming dispatches again' };
    if (execution.resumeAt) return { kind: 'skip', reason: 'the execution waits; its timer sends the step when due' };
    if (!execution.currentStep) return { kind: 'skip', reason: 'the execution has no step to run' };
    const stale = execution.currentStep !== message.stepKey || execution.currentAttempt !== message.attempt;
    // A duplicate (the sweeper's, one sent again after an outage) is dropped: whoever moved the execution on carries it.
    if (stale && !redelivered) return { kind: 'skip', reason: 'stale message: the execution moved on' };
    // The broker's redelivery of a message a worker ran several steps for before it died: carry the execution on where
    // it is. Its current attempt is most likely held by that worker, and is then taken over when its lease ends.
    const due: StepMessage = stale
      ? { executionId: execution.id, stepKey: execution.currentStep, attempt: execution.currentAttempt }
      : message;
    const version = await this.versionOf(em, execution);
    const step = version?.steps.find((candidate) => candidate.key === due.stepKey);
    if (!version || !step) {
      const entity = await em.findOneOrFail(Execution, execution.id);
      this.failExecution(
        this.recorderFor(em),
        entity,
        due,
        `Step "${due.stepKey}" is not part of version ${execution.workflowVersion}`,
        version?.name,
      );
      await em.flush();
      this.options.relay.notify();
      return { kind: 'skip', reason: 'unknown step' };
    }

    const now = new Date(this.now());
    const { attempt, values } = this.startAttempt(execution.id, step, due.attempt, now);
    const inserted = await em.getConnection().execute<{ id: string }[]>(CLAIM_INSERT_SQL, values);
    if (inserted.length === 1) return { kind: 'run', attempt, step, version, execution, outputs };

    const existing = await em.findOneOrFail(StepRun, { idempotencyKey: stepRunKey(due) });
    // Settled (or waiting) while the execution still points at it only in a race with the change that moves it on.
    if (existing.status !== StepRunStatus.Running) return { kind: 'skip', reason: `attempt already ${existing.status.toLowerCase()}` };
    if (existing.leaseUntil.getTime() >= now.getTime()) {
      this.checkWhenLeaseEnds(due, existing.leaseUntil);
      return { kind: 'skip', reason: 'another worker holds the attempt; checking again when its lease ends' };
    }
    if (this.settling.has(existing.id)) return { kind: 'skip', reason: 'this process is recording the outcome of the attempt' };
    return this.takeOver(em, due, existing, step, version, now);
  }

  /**
   * The attempt's worker died (or stopped answering) with it in flight, and its lease ran out: the attempt is recorded
   * as abandoned and the next one starts now, under this process's lease. Whether the abandoned attempt had its effect
   * is unknown; running the step again keeps it at least once, and the step's idempotency key lets the receiver tell.
   * The next attempt is not counted by the retry policy: the step did not fail. Done under the execution's lock, as
   * settling is, so that exactly one worker takes an attempt over, and none once its worker settled it.
   */
  private async takeOver(
    em: EntityManager,
    message: StepMessage,
    abandoned: StepRun,
    step: StepDefinition,
    version: VersionFacts,
    now: Date,
  ): Promise<Claim> {
    const next: StepMessage = { ...message, attempt: message.attempt + 1 };
    const { attempt } = this.startAttempt(message.executionId, step, next.attempt, now);
    const claim = await em.transactional(async (tx): Promise<Claim> => {
      const execution = await tx.findOneOrFail(Execution, message.executionId, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const current = execution.currentStep === message.stepKey && execution.currentAttempt === message.attempt;
      if (execution.status !== ExecutionStatus.Running || !current || execution.resumeAt)
        return { kind: 'skip', reason: 'the execution moved on' };
      const reason = `Abandoned: its worker stopped before recording an outcome, and attempt ${next.attempt} took over when its lease ran out`;
      const marked = await tx.nativeUpdate(
        StepRun,
        { id: abandoned.id, status: StepRunStatus.Running, leaseUntil: { $lt: now } },
        { status: StepRunStatus.Abandoned, errorMessage: reason, finishedAt: now },
      );
      if (marked === 0) return { kind: 'skip', reason: 'the attempt was settled or taken over meanwhile' };
      execution.currentAttempt = next.attempt;
      execution.uncountedAttempts += 1;
      recordExecutionEvent(tx, WorkflowEvent.StepAbandoned, execution, {
        stepKey: step.key,
        attempt: message.attempt,
        error: reason,
        workflowName: version.name,
      });
      await tx.insert(StepRun, {
        id: attempt.id,
        executionId: execution.id,
        stepKey: step.key,
        stepType: step.type,
        attempt: next.attempt,
        idempotencyKey: stepRunKey(next),
        status: StepRunStatus.Running,
        output: null,
        errorMessage: null,
        waitingUntil: null,
        leaseUntil: attempt.leaseUntil,
        leaseOwner: this.leaseOwner,
        startedAt: now,
        finishedAt: null,
      });
      return { kind: 'run', attempt, step, version, execution };
    });
    if (claim.kind === 'run') {
      this.options.relay.notify();
      this.options.logger.info(
        { executionId: message.executionId, stepKey: step.key, abandoned: message.attempt, attempt: next.attempt },
        'took over an attempt whose lease ran out',
      );
    }
    return claim;
  }

  /**
   * The common claim in one statement (CLAIM_AT_ONCE_SQL); undefined when it does not apply or did not insert the
   * attempt, for the long way to find out why (a stale or repeated message, a paused execution, another worker's attempt).
   */
  private async claimAtOnce(em: EntityManager, message: StepMessage): Promise<Claim | undefined> {
    if (message.workflowId === undefined || message.workflowVersion === undefined) return undefined;
    const version = this.versions.get(`${message.workflowId}:${message.workflowVersion}`);
    const step = version?.steps.find((candidate) => candidate.key === message.stepKey);
    if (!version || !step) return undefined;
    const now = new Date(this.now());
    const { attempt, values } = this.startAttempt(message.executionId, step, message.attempt, now);
    const [row] = await em
      .getConnection()
      .execute<(ClaimedExecutionRow & { claimed: boolean })[]>(CLAIM_AT_ONCE_SQL, [
        StepRunStatus.Completed,
        message.executionId,
        ...values,
        message.workflowId,
        message.workflowVersion,
        ExecutionStatus.Running,
        message.stepKey,
        message.attempt,
      ]);
    if (!row?.claimed) return undefined;
    const { execution, outputs } = claimedExecution(row);
    return { kind: 'run', attempt, step, version, execution, outputs };
  }

  private async versionOf(
    em: EntityManager,
    execution: Pick<Execution, 'workflowId' | 'workflowVersion'>,
  ): Promise<VersionFacts | undefined> {
    const key = `${execution.workflowId}:${execution.workflowVersion}`;
    const cached = this.versions.get(key);
    if (cached) return cached;
    const version = await em.findOne(WorkflowVersion, { workflowId: execution.workflowId, version: execution.workflowVersion });
    if (!version) return undefined;
    return this.remember(key, version);
  }

  private async readForClaim(
    em: EntityManager,
    executionId: string,
  ): Promise<{ execution: ExecutionState; outputs: StepOutputs } | undefined> {
    const [row] = await em.getConnection().execute<ClaimedExecutionRow[]>(CLAIM_READ_SQL, [StepRunStatus.Completed, executionId]);
    return row ? claimedExecution(row) : undefined;
  }

  /** The outputs of the execution's completed steps, for a claim that did not read them with the execution. */
  private async completedOutputs(em: EntityManager, executionId: string): Promise<StepOutputs> {
    const completed = await em.find(StepRun, { executionId, status: StepRunStatus.Completed }, { orderBy: { startedAt: 'asc' } });
    return outputsOf(completed.map((run) => [run.stepKey, run.output]));
  }

  private recorderFor(em: EntityManager): RecordEvent {
    return (type, execution, details) => recordExecutionEvent(em, type, execution, details);
  }

  private remember(key: string, version: WorkflowVersion): VersionFacts {
    // Plain data, so that the cache keeps no entity manager alive.
    const facts: VersionFacts = { name: version.name, steps: version.steps };
    this.versions.set(key, facts);
    if (this.versions.size > VERSION_CACHE_SIZE) this.versions.delete(this.versions.keys().next().value!);
    return facts;
  }

  /**
   * The holder may be alive (a duplicate message) or dead (a redelivery after its process died): look again when its
   * lease ends, and take the attempt over then if it is still unsettled. Kept in memory only; should this process
   * stop first, the sweeper finds the execution stalled.
   */
  private checkWhenLeaseEnds(message: StepMessage, leaseUntil: Date): void {
    const at = leaseUntil.getTime() + 1;
    this.leaseChecks.set(stepRunKey(message), { message, at });
    this.wakeUps.wakeAt(at);
  }

  private async execute(claim: RunClaim): Promise<StepOutcome | StepError> {
    const { execution, step } = claim;
    const executor = this.options.steps.get(step.type);
    if (!executor) return new StepError(`No executor for step type "${step.type}"`, false);
    const outputs = claim.outputs ?? (await this.completedOutputs(systemFork(this.options.database), execution.id));
    const signal = AbortSignal.timeout(step.timeoutMs);
    try {
      const outcome = await executor.execute(step.config, {
        input: execution.input,
        steps: outputs,
        execution: { id: execution.id, workflowId: execution.workflowId, tenantId: execution.tenantId, ownerId: execution.ownerId ?? null },
        idempotencyKey: `${execution.id}:${step.key}`,
        signal,
      });
      // A server's answer may hold what PostgreSQL refuses (NUL, a lone surrogate): stored as it came, the outcome could
      // never be recorded, and the step would run again at every takeover.
      return { ...outcome, output: storableValue(outcome.output) };
    } catch (error) {
      if (error instanceof StepError) {
        return new StepError(
          storableText(error.message),
          error.retryable,
          error.details && (storableValue(error.details) as Record<string, unknown>),
          error.retryAfterMs,
        );
      }
      if (signal.aborted) return new StepError(`Step timed out after ${step.timeoutMs} ms`, true);
      this.options.logger.error({ err: error, executionId: execution.id, stepKey: step.key }, 'step executor failed unexpectedly');
      return new StepError('The step failed unexpectedly', true);
    }
  }

  /**
   * Records the attempt's outcome and moves the execution on, in one transaction with its events, if this claim still
   * holds the attempt: one taken over after its lease ran out is settled by whoever took it, never twice.
   */
  private async settle(claim: RunClaim, outcome: StepOutcome | StepError, claimNext: number | undefined): Promise<RunClaim | undefined> {
    const settled = await this.settleAtOnce(claim, outcome, claimNext);
    if (settled) return settled.next;
    const em = systemFork(this.options.database);
    let dispatchNext: Execution | undefined;
    let resumed: RunClaim | undefined;
    let waitUntil: Date | undefined;
    await em.transactional(async (tx) => {
      const execution = await tx.findOneOrFail(Execution, claim.execution.id, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const stepRun = await tx.findOneOrFail(StepRun, claim.attempt.id, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!this.stillHolds(stepRun, claim.attempt)) {
        if (this.settledUnder(stepRun, claim.attempt)) {
          // An earlier try of this very settle committed, but its answer was lost with the connection: carry on from
          // there, with the next step's attempt if that try claimed it for this worker (nobody else would run it).
          if (execution.status !== ExecutionStatus.Running) return;
          resumed = execution.resumeAt ? undefined : await this.heldNext(tx, claim.version, execution);
          if (!resumed) dispatchNext = execution;
          return;
        }
        this.options.logger.warn(
          { executionId: execution.id, stepKey: stepRun.stepKey, attempt: stepRun.attempt },
          'attempt was taken over by another worker; its outcome here is dropped',
        );
        return;
      }
      const now = new Date(this.now());
      const details = { stepKey: claim.step.key, attempt: stepRun.attempt, workflowName: claim.version.name };
      // An attempt left running when its execution was cancelled, then retried, ends after the execution moved on.
      const current = execution.currentStep === claim.step.key && execution.currentAttempt === stepRun.attempt;

      if (outcome instanceof StepError) {
        stepRun.status = StepRunStatus.Failed;
        stepRun.errorMessage = outcome.message;
        stepRun.finishedAt = now;
        if (!current || FINISHED_STATUSES.includes(execution.status)) return;
        const attemptOfRound = stepRun.attempt - execution.uncountedAttempts;
        if (outcome.retryable && attemptOfRound < claim.step.retry.maxAttempts) {
          execution.currentAttempt = stepRun.attempt + 1;
          const waitMs = retryDelay(claim.step.retry, attemptOfRound, outcome.retryAfterMs, this.maxRetryAfterMs);
          execution.resumeAt = new Date(now.getTime() + waitMs);
          recordExecutionEvent(tx, WorkflowEvent.StepFailed, execution, { ...details, error: outcome.message });
          recordExecutionEvent(tx, WorkflowEvent.StepWaiting, execution, { ...details, attempt: execution.currentAttempt });
          waitUntil = execution.resumeAt;
        } else {
          this.failExecution(this.recorderFor(tx), execution, details, outcome.message, claim.version.name, WorkflowEvent.StepFailed);
        }
        return;
      }

      if (!current || execution.status === ExecutionStatus.Cancelled) {
        stepRun.status = StepRunStatus.Completed;
        stepRun.output = outcome.output ?? null;
        stepRun.finishedAt = now;
        return;
      }
      if (outcome.kind === 'delayed') {
        // The wait counts from the step's start, and the step completes when it ends (its timer fires), not now.
        stepRun.status = StepRunStatus.Waiting;
        stepRun.output = outcome.output ?? null;
        stepRun.waitingUntil = new Date(stepRun.startedAt.getTime() + outcome.delayMs);
        execution.resumeAt = stepRun.waitingUntil;
        recordExecutionEvent(tx, WorkflowEvent.StepWaiting, execution, details);
        waitUntil = execution.resumeAt;
        return;
      }
      stepRun.status = StepRunStatus.Completed;
      stepRun.output = outcome.output ?? null;
      stepRun.finishedAt = now;
      dispatchNext = this.advance(this.recorderFor(tx), execution, claim.version, details, outcome, now);
    });
    this.options.relay.notify();
    if (waitUntil) this.wakeUps.wakeAt(waitUntil.getTime());
    if (dispatchNext) await this.dispatch(dispatchNext);
    return resumed;
  }

  /** The execution's current attempt, if this process holds it (a settling statement claimed it), as a claim to run. */
  private async heldNext(em: EntityManager, version: VersionFacts, execution: Execution): Promise<RunClaim | undefined> {
    const step = version.steps.find((candidate) => candidate.key === execution.currentStep);
    if (!step) return undefined;
    const held = await em.findOne(StepRun, {
      executionId: execution.id,
      stepKey: step.key,
      attempt: execution.currentAttempt,
      status: StepRunStatus.Running,
      leaseOwner: this.leaseOwner,
    });
    if (!held) return undefined;
    return {
      kind: 'run',
      attempt: { id: held.id, attempt: held.attempt, leaseUntil: held.leaseUntil },
      step,
      version,
      execution,
    };
  }

  /**
   * The common case, in one statement instead of a transaction of several: the step completed, and neither its
   * execution (paused, cancelled, moved on by another worker) nor its attempt (taken over) changed since the claim read
   * them. The statement checks that under the same locks the transaction takes, and changes nothing otherwise: then
   * the transaction settles the outcome as it does every other. Returns undefined if the statement did not settle it;
   * otherwise the next step's attempt, if `claimNext` and the statement claimed it for this worker (else it is sent).
   */
  private async settleAtOnce(
    claim: RunClaim,
    outcome: StepOutcome | StepError,
    claimNext: number | undefined,
  ): Promise<{ next: RunClaim | undefined } | undefined> {
    if (outcome instanceof StepError || outcome.kind === 'delayed') return undefined;
    const read = claim.execution;
    const current = read.currentStep === claim.step.key && read.currentAttempt === claim.attempt.attempt;
    if (read.status !== ExecutionStatus.Running || !current || read.resumeAt) return undefined;
    const execution: ExecutionState = { ...read };
    const now = new Date(this.now());
    const events: OutboxEventValues[] = [];
    const record: RecordEvent = (type, subject, details) => events.push(newOutboxEvent(executionEvent(type, subject, details)));
    const details = { stepKey: claim.step.key, attempt: claim.attempt.attempt, workflowName: claim.version.name };
    const next = this.advance(record, execution, claim.version, details, outcome, now);
    const output = jsonParameter(outcome.output);
    const nextStep = next && claimNext !== undefined ? claim.version.steps.find((step) => step.key === next.currentStep) : undefined;
    const started = nextStep && this.startAttempt(read.id, nextStep, 1, now);
    const chained = started && started.attempt.leaseUntil.getTime() <= claimNext! ? { step: nextStep, ...started } : undefined;
    const [result] = await systemFork(this.options.database)
      .getConnection()
      .execute<{ moved: number; settled: number; claimed: number; output: unknown }[]>(
        settleAtOnceSql(events.length, chained !== undefined),
        [
          read.id,
          read.revision,
          read.status,
          read.currentStep,
          read.currentAttempt,
          claim.attempt.id,
          StepRunStatus.Running,
          this.leaseOwner,
          claim.attempt.leaseUntil,
          execution.status,
          execution.currentStep,
          execution.currentAttempt,
          execution.uncountedAttempts,
          jsonParameter(execution.output),
          execution.finishedAt,
          execution.revision,
          now,
          StepRunStatus.Completed,
          output,
          now,
          ...events.flatMap((event) => [event.eventId, event.type, event.tenantId, JSON.stringify(event.payload), event.occurredAt]),
          ...(chained?.values ?? []),
        ],
      );
    if (result?.moved !== 1) return undefined;
    this.options.relay.notify();
    if (chained && result.claimed === 1) {
      // The output as stored, as a claim would read it back (jsonb orders an object's keys its own way).
      const outputs = claim.outputs && { ...claim.outputs, [claim.step.key]: { output: result.output ?? null } };
      const { attempt, step } = chained;
      return { next: { kind: 'run', attempt, step, version: claim.version, execution, ...(outputs ? { outputs } : {}) } };
    }
    if (next) await this.dispatch(next);
    return { next: undefined };
  }

  /**
   * A new attempt of `step` starting at `now` under this process's lease, which ends after its timeout and the margin
   * for recording its outcome; and its row's values, in the order of STARTED_ATTEMPT_COLUMNS.
   */
  private startAttempt(executionId: string, step: StepDefinition, number: number, now: Date): { attempt: HeldAttempt; values: unknown[] } {
    const attempt: HeldAttempt = {
      id: randomUUID(),
      attempt: number,
      leaseUntil: new Date(now.getTime() + step.timeoutMs + this.leaseMarginMs),
    };
    const key = stepRunKey({ executionId, stepKey: step.key, attempt: number });
    return {
      attempt,
      values: [attempt.id, executionId, step.key, step.type, number, key, StepRunStatus.Running, attempt.leaseUntil, this.leaseOwner, now],
    };
  }

  /** Whether the attempt is still the one a claim took: running, under this process's lease, not renewed by a takeover. */
  private stillHolds(current: StepRun, claimed: HeldAttempt): boolean {
    return current.status === StepRunStatus.Running && this.isUnderLease(current, claimed);
  }

  /** Whether the attempt was settled under the claim's own lease, hence by the claim itself. */
  private settledUnder(current: StepRun, claimed: HeldAttempt): boolean {
    return current.status !== StepRunStatus.Running && current.status !== StepRunStatus.Abandoned && this.isUnderLease(current, claimed);
  }

  private isUnderLease(current: StepRun, claimed: HeldAttempt): boolean {
    return current.leaseOwner === this.leaseOwner && current.leaseUntil.getTime() === claimed.leaseUntil.getTime();
  }

  /** Moves the execution past a completed step; returns it when its next step is to be sent now. */
  private advance<State extends ExecutionState>(
    record: RecordEvent,
    execution: State,
    version: VersionFacts,
    details: { stepKey: string; attempt: number; workflowName: string },
    outcome: StepOutcome,
    now: Date,
  ): State | undefined {
    const next = this.nextStep(version.steps, details.stepKey, outcome);
    execution.currentStep = next;
    execution.currentAttempt = 1;
    execution.uncountedAttempts = 0;
    execution.resumeAt = null;
    record(WorkflowEvent.StepCompleted, execution, details);
    if (!next) {
      execution.status = ExecutionStatus.Completed;
      execution.output = outcome.output ?? null;
      execution.finishedAt = now;
      record(WorkflowEvent.ExecutionCompleted, execution, { workflowName: version.name });
      return undefined;
    }
    return execution.status === ExecutionStatus.Running ? execution : undefined;
  }

  private nextStep(steps: StepDefinition[], current: string, outcome: StepOutcome): string | null {
    if (outcome.kind === 'branched') return outcome.next;
    const index = steps.findIndex((step) => step.key === current);
    return steps[index + 1]?.key ?? null;
  }

  /** Fails the execution for good, recording `stepEvent` (if any) for the attempt, then the execution's failure. */
  private failExecution(
    record: RecordEvent,
    execution: ExecutionState,
    attempt: { stepKey: string; attempt: number },
    reason: string,
    workflowName: string | undefined,
    stepEvent?: WorkflowEvent,
  ): void {
    execution.status = ExecutionStatus.Failed;
    execution.errorMessage = reason;
    execution.errorStep = attempt.stepKey;
    execution.resumeAt = null;
    execution.finishedAt = new Date(this.now());
    const details = {
      stepKey: attempt.stepKey,
      attempt: attempt.attempt,
      error: reason,
      ...(workflowName === undefined ? {} : { workflowName }),
    };
    if (stepEvent) record(stepEvent, execution, details);
    record(WorkflowEvent.ExecutionFailed, execution, details);
  }

  /** One pass of the timers: fires the due ones, sends attempts whose lease ended, and says when the next is due. */
  private async runDueWork(): Promise<number | null> {
    while ((await this.fireDueTimers()) === TIMER_BATCH) {
      // a full batch means more may be due
    }
    for (const [key, check] of this.leaseChecks) {
      if (check.at > this.now()) continue;
      this.leaseChecks.delete(key);
      await this.sender.send(check.message);
    }
    const nextTimer = await systemFork(this.options.database).findOne(
      Execution,
      { resumeAt: { $ne: null }, status: { $in: TIMED_STATUSES } },
      { orderBy: { resumeAt: 'asc' }, fields: ['resumeAt'] },
    );
    const due = [
      ...[...this.leaseChecks.values()].map((check) => check.at),
      ...(nextTimer?.resumeAt ? [nextTimer.resumeAt.getTime()] : []),
    ];
    return due.length > 0 ? Math.min(...due) : null;
  }

  /**
   * Fires due timers, earliest first, a batch per transaction. The rows are locked and those another process has
   * locked are skipped, and each timer is cleared in the transaction that fires it: a timer fires in exactly one
   * process, however many look at once. A delay step completes here; a retry's attempt is queued after the commit.
   */
  private async fireDueTimers(): Promise<number> {
    const em = systemFork(this.options.database);
    const toDispatch: Execution[] = [];
    let fired = 0;
    // The instant the timers fire is when this process woke for them, not when the transaction got going.
    const now = new Date(this.now());
    await em.transactional(async (tx) => {
      const due = await tx.find(
        Execution,
        { resumeAt: { $lte: now }, status: { $in: TIMED_STATUSES } },
        { orderBy: { resumeAt: 'asc' }, limit: TIMER_BATCH, lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE },
      );
      fired = due.length;
      if (due.length === 0) return;
      const waits = await tx.find(StepRun, { executionId: { $in: due.map((execution) => execution.id) }, status: StepRunStatus.Waiting });
      for (const execution of due) {
        const version = await this.versionOf(tx, execution);
        const attempt = { stepKey: execution.currentStep!, attempt: execution.currentAttempt };
        execution.resumeAt = null;
        if (!version) {
          this.failExecution(
            this.recorderFor(tx),
            execution,
            attempt,
            `Version ${execution.workflowVersion} of the workflow is gone`,
            undefined,
          );
          continue;
        }
        const wait = waits.find(
          (run) => run.executionId === execution.id && run.stepKey === attempt.stepKey && run.attempt === attempt.attempt,
        );
        if (wait) {
          wait.status = StepRunStatus.Completed;
          wait.finishedAt = now;
          const next = this.advance(
            this.recorderFor(tx),
            execution,
            version,
            { ...attempt, workflowName: version.name },
            { kind: 'completed', output: wait.output },
            now,
          );
          if (next) toDispatch.push(next);
        } else {
          recordExecutionEvent(tx, WorkflowEvent.StepRetrying, execution, { ...attempt, workflowName: version.name });
          if (execution.status === ExecutionStatus.Running) toDispatch.push(execution);
        }
      }
    });
    // The steps first: in the embedded database, the relay's transaction would hold up their claims.
    for (const execution of toDispatch) await this.dispatch(execution);
    if (fired > 0) this.options.relay.notify();
    return fired;
  }

  /**
   * Takes over at once what a previous run of this process left in flight, instead of leaving it to the sweeper. An
   * embedded database is this process's alone, and its in-process queue lost its messages with the process: every
   * attempt still running was interrupted, and every running execution that does not wait is sent on. In PostgreSQL,
   * where other live processes hold attempts under leases of their own, only the attempts leased under this worker id
   * (this process holds none yet, so they are its predecessor's) and those whose lease ran out are taken over.
   */
  private async recoverInterrupted(): Promise<void> {
    const em = systemFork(this.options.database);
    const embedded = this.options.database.mode === 'embedded';
    const released = await em.nativeUpdate(
      StepRun,
      embedded
        ? { status: StepRunStatus.Running }
        : { status: StepRunStatus.Running, leaseOwner: { $like: `${escapeLike(this.workerId)}/%` } },
      { leaseUntil: new Date(0) },
    );
    const sent = embedded ? await this.sender.sendDueAndUnheld(em) : await this.sendOnExpiredAttempts(em);
    if (released > 0 || sent > 0)
      this.options.logger.info({ released, sent, workerId: this.workerId }, 'took over work interrupted by a previous run');
  }

  private async sendOnExpiredAttempts(em: EntityManager): Promise<number> {
    const rows = await em.getConnection().execute<{ execution_id: string; step_key: string; attempt: number }[]>(
      `select s."execution_id", s."step_key", s."attempt" from "step_runs" s
       join "executions" e on e."id" = s."execution_id" and e."current_step" = s."step_key" and e."current_attempt" = s."attempt"
       where s."status" = ? and s."lease_until" < ? and e."status" = ? and e."resume_at" is null`,
      [StepRunStatus.Running, new Date(this.now()), ExecutionStatus.Running],
    );
    for (const row of rows) await this.sender.send({ executionId: row.execution_id, stepKey: row.step_key, attempt: row.attempt });
    return rows.length;
  }

  /**
   * Re-dispatches executions that are running, do not wait for a timer, and have not changed for `stallAfterMs`: their
   * message was lost (the broker was down when it was sent) or their worker died. Duplicates are harmless. Returns the
   * ids of the executions sent again.
   */
  async sweep(stallAfterMs: number): Promise<string[]> {
    const em = systemFork(this.options.database);
    const now = new Date(this.now());
    // Oldest first, and none whose step a worker holds under a live lease (a long AI or HTTP step is not stalled): with
    // hundreds of long steps running, they filled the page every pass, and executions that had lost their message were
    // never sent again.
    const stalled = await em.getConnection().execute<{ id: string; current_step: string | null; current_attempt: number }[]>(
      `select e."id", e."current_step", e."current_attempt" from "executions" e
       where e."status" = ? and e."updated_at" < ? and e."resume_at" is null
       and not exists (select 1 from "step_runs" s where s."execution_id" = e."id" and s."step_key" = e."current_step"
                       and s."attempt" = e."current_attempt" and s."status" = ? and s."lease_until" >= ?)
       order by e."updated_at" limit ?`,
      [ExecutionStatus.Running, new Date(now.getTime() - stallAfterMs), StepRunStatus.Running, now, SWEEP_PAGE],
    );
    for (const row of stalled) {
      await this.dispatch({ id: row.id, currentStep: row.current_step, currentAttempt: row.current_attempt, resumeAt: null });
    }
    return stalled.map((row) => row.id);
  }
}
