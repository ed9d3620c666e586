import type { z } from 'zod';

export interface StepContext {
  /** The execution's input. */
  input: unknown;
  /** Outputs of steps completed so far in this execution, by step key. */
  steps: Record<string, { output: unknown }>;
  /**
   * The run itself. `ownerId` is the workflow's owner when the run started, on whose behalf steps act on other
   * NexusFlow services; null only for runs started before executions recorded their owner.
   */
  execution: { id: string; workflowId: string; tenantId: string; ownerId: string | null };
  /**
   * `${executionId}:${stepKey}`: the same for every attempt of a step within one execution, so external systems that
   * receive it can recognise a retry of a request they already handled.
   */
  idempotencyKey: string;
  /** Aborted when the step's timeout expires or the execution is cancelled. */
  signal: AbortSignal;
}

export type StepOutcome =
  /** The engine continues with the next step. */
  | { kind: 'completed'; output: unknown }
  /** The engine continues with the next step once `delayMs` has passed. */
  | { kind: 'delayed'; delayMs: number; output: unknown }
  /** The engine continues with the step keyed `next`; `null` ends the workflow successfully. */
  | { kind: 'branched'; next: string | null; output: unknown };

/**
 * The only error executors throw on purpose. `retryable` tells the engine whether running the step again could succeed
 * (a flaky network, an overloaded server) or would fail the same way (a bad configuration, a refused address).
 */
export class StepError extends Error {
  override readonly name = 'StepError';

  constructor(
    message: string,
    readonly retryable: boolean,
    readonly details?: Record<string, unknown>,
    /**
     * How long the service the step called asked to be left alone (its Retry-After, a rate limit's reset): the engine
     * waits at least this long before the next attempt, up to STEP_MAX_RETRY_AFTER_MS.
     */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** A step cut short by its timeout or a cancelled run: retryable, since a later attempt may have the time it lacked. */
export function cancelled(): StepError {
  return new StepError('timed out or cancelled', true);
}

export interface StepExecutor<C> {
  /** The `type` that workflow steps use to select this executor. */
  type: string;
  /** One sentence for people building workflows. */
  description: string;
  /** Parses a step's raw `config`; `execute` receives what it outputs (defaults applied). */
  config: z.ZodType<C>;
  execute(config: C, context: StepContext): Promise<StepOutcome>;
}
