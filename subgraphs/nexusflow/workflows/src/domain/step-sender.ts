import { isDependencyOutage, systemFork, type Database, type EntityManager, type Logger, type WorkQueue } from '@nexusflow/kit';
import { ExecutionStatus } from '../entities/execution.entity.ts';
import { StepRunStatus } from '../entities/step-run.entity.ts';

/** A unit of work: run this attempt of this step of this execution, now. */
export interface StepMessage {
  executionId: string;
  stepKey: string;
  attempt: number;
  /**
   * The workflow version the execution runs, when the sender knew it: with the version cached, the worker claims the
   * attempt in one statement instead of reading the execution first (messages without it take two).
   */
  workflowId?: string;
  workflowVersion?: number;
}

export interface StepSenderOptions {
  database: Database;
  queue: WorkQueue<StepMessage>;
  logger: Logger;
  now: () => number;
}

/** Executions sent per query when what is due is sent again. */
const BATCH = 500;

/**
 * Sends step messages to the workers, never waiting for a broker that is down. The database, not the broker, says
 * which step is due: an execution whose message the broker could not take stays recorded as due, and what is due and
 * held by no worker is sent again as soon as the broker is back (every process does, since any may have failed to
 * send meanwhile), rather than when the sweeper finds the execution stalled.
 */
export class StepSender {
  private stopListening: (() => void) | undefined;
  /** The pass in flight after the broker came back, and whether another was asked for meanwhile. */
  private resending: Promise<void> | undefined;
  private resendAgain = false;
  private stopped = false;

  constructor(private readonly options: StepSenderOptions) {}

  start(): void {
    this.stopListening = this.options.queue.onReconnected(() => this.resendAfterOutage());
  }

  /** Stops listening for the broker's return, waiting for a pass in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopListening?.();
    await this.resending;
  }

  /** Queues the message, or, when the broker cannot take it now, leaves it to the pass that follows the broker's return. */
  async send(message: StepMessage): Promise<void> {
    try {
      await this.options.queue.enqueue(message, { waitForReconnection: false });
    } catch (error) {
      if (isDependencyOutage(error))
        this.options.logger.debug({ err: error, ...message }, 'the broker is unreachable; the step is sent when it is back');
      else this.options.logger.warn({ err: error, ...message }, 'could not queue the step; the sweeper will send it');
    }
  }

  /**
   * Sends every running execution that does not wait and whose current attempt no worker holds under a live lease:
   * its step is due and nobody runs it. Its message may still be in the broker, or may have been lost; a duplicate
   * costs a claim that finds the attempt taken. Returns how many were sent.
   */
  async sendDueAndUnheld(em: EntityManager): Promise<number> {
    let sent = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const page = await em.getConnection().execute<{ id: string; current_step: string; current_attempt: number }[]>(
        `select e."id", e."current_step", e."current_attempt" from "executions" e
         where e."status" = ? and e."resume_at" is null and e."current_step" is not null and e."id" > ?
         and not exists (select 1 from "step_runs" s where s."execution_id" = e."id" and s."step_key" = e."current_step"
                         and s."attempt" = e."current_attempt" and s."status" = ? and s."lease_until" >= ?)
         order by e."id" limit ?`,
        [ExecutionStatus.Running, after, StepRunStatus.Running, new Date(this.options.now()), BATCH],
      );
      for (const row of page) await this.send({ executionId: row.id, stepKey: row.current_step, attempt: row.current_attempt });
      sent += page.length;
      if (page.length < BATCH) return sent;
      after = page.at(-1)!.id;
    }
  }

  /** Passes never overlap: one asked for while another runs follows it. */
  private resendAfterOutage(): void {
    if (this.stopped) return;
    if (this.resending) {
      this.resendAgain = true;
      return;
    }
    this.resending = (async () => {
      try {
        const sent = await this.sendDueAndUnheld(systemFork(this.options.database));
        this.options.logger.info({ sent }, 'the broker is back; sent the steps that came due meanwhile');
      } catch (error) {
        this.options.logger.warn({ err: error }, 'could not send the steps due after the broker came back; the sweeper will');
      }
    })().finally(() => {
      this.resending = undefined;
      if (this.resendAgain) {
        this.resendAgain = false;
        this.resendAfterOutage();
      }
    });
  }
}
