/** Exponential backoff between attempts: `initialMs`, then multiplied by `factor` after each failure, up to `maxMs`. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** @default 2 */
  factor?: number;
}

/** The wait after failed attempt number `attempt` (1 for the first attempt). */
export function backoffDelay(policy: BackoffPolicy, attempt: number): number {
  const exponent = Math.max(attempt, 1) - 1;
  return Math.min(policy.maxMs, policy.initialMs * (policy.factor ?? 2) ** exponent);
}

export type RetryDecision = { retry: true; at: Date; delayMs: number } | { retry: false };

/** After a failed attempt: another one after the backoff, unless that was the last attempt allowed. */
export function afterFailedAttempt(options: { attempts: number; maxAttempts: number; policy: BackoffPolicy; now: Date }): RetryDecision {
  if (options.attempts >= options.maxAttempts) return { retry: false };
  const delayMs = backoffDelay(options.policy, options.attempts);
  return { retry: true, at: new Date(options.now.getTime() + delayMs), delayMs };
}
