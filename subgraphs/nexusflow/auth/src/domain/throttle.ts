import { createHash } from 'node:crypto';
import type { EntityManager, QueryResult } from '@mikro-orm/postgresql';

export type ThrottleScope =
  | 'login-account'
  | 'login-address'
  | 'registration-address'
  | 'password-reset-account'
  | 'password-reset-address'
  | 'verification-email'
  | 'mfa-user';

/**
 * The first `allowance` attempts within the window pass freely; each one after waits a delay counted
 * from the newest attempt: `firstDelayMs`, doubling per further attempt, never more than `maxDelayMs`.
 */
export interface BackoffPolicy {
  kind: 'backoff';
  allowance: number;
  firstDelayMs: number;
  maxDelayMs: number;
  /** Attempts older than this stop counting. */
  windowMs: number;
}

/** At most `allowance` attempts within any `windowMs`. */
export interface QuotaPolicy {
  kind: 'quota';
  allowance: number;
  windowMs: number;
}

export type ThrottlePolicy = BackoffPolicy | QuotaPolicy;

/** An admitted attempt is refunded when it turns out not to count (a successful sign-in, one that another throttle refused). */
export type Admission = { admitted: true; refund(): Promise<void> } | { admitted: false; retryAfterSeconds: number };

type SqlParameters = Record<string, string | number>;

/** The counted attempts still inside the window, oldest first, of the stored row `c`. */
const RECENT_ATTEMPTS = `array(select attempt from unnest(c."attempts") attempt where attempt > :cutoff::timestamptz order by attempt)`;
const RECENT_COUNT = `cardinality(${RECENT_ATTEMPTS})`;

/** The instant from which a subject that has used its allowance may try again. */
const RELEASE: Record<ThrottlePolicy['kind'], string> = {
  // The exponent is bounded so that a long-configured allowance never overflows; the cap applies long before.
  backoff: `(select max(attempt) from unnest(c."attempts") attempt)
    + least(:firstDelayMs * power(2, least(${RECENT_COUNT} - :allowance, 40)), :maxDelayMs) * interval '1 millisecond'`,
  quota: `(${RECENT_ATTEMPTS})[${RECENT_COUNT} - :allowance + 1] + :windowMs * interval '1 millisecond'`,
};

const blocked = (kind: ThrottlePolicy['kind']) => `(${RECENT_COUNT} >= :allowance and ${RELEASE[kind]} > :now::timestamptz)`;

/**
 * Counts attempts per subject (an email, an address) of one scope in the service's own database,
 * which every auth instance shares. An attempt is counted when it is admitted, before its outcome is
 * known, and the check and the count are one SQL statement under the row's lock: a burst of parallel
 * attempts is let through one at a time and only as far as the policy allows, whichever instances
 * receive it. Refused attempts count nothing, so that waiting out a delay is always enough.
 */
export class Throttle {
  constructor(
    private readonly scope: ThrottleScope,
    private readonly policy: ThrottlePolicy,
    private readonly now: () => number,
  ) {}

  /** Counts an attempt, or refuses it while the subject is over its allowance. */
  async admit(em: EntityManager, subject: string): Promise<Admission> {
    const parameters = this.parameters(subject);
    const admitted = await em.getConnection().execute<{ admitted: number }[]>(
      `insert into "throttle_counters" as c ("scope", "subject_hash", "attempts", "last_attempt_at")
       values (:scope, :subjectHash, array[:now::timestamptz], :now::timestamptz)
       on conflict ("scope", "subject_hash") do update
         set "attempts" = array_append(${RECENT_ATTEMPTS}, :now::timestamptz),
             "last_attempt_at" = greatest(c."last_attempt_at", :now::timestamptz)
         where not ${blocked(this.policy.kind)}
       returning 1 as "admitted"`,
      parameters,
    );
    if (admitted.length > 0) return { admitted: true, refund: () => this.refund(em, parameters) };
    return { admitted: false, retryAfterSeconds: await this.retryAfterSeconds(em, parameters) };
  }

  /** Forgets every attempt of the subject. */
  async clear(em: EntityManager, subject: string): Promise<void> {
    await em
      .getConnection()
      .execute(`delete from "throttle_counters" where "scope" = :scope and "subject_hash" = :subjectHash`, this.parameters(subject), 'run');
  }

  /** Deletes the counters whose attempts are all past the window, so that the table only holds live subjects; returns how many. */
  async prune(em: EntityManager): Promise<number> {
    const cutoff = new Date(this.now() - this.policy.windowMs).toISOString();
    const deleted = await em
      .getConnection()
      .execute<QueryResult>(
        `delete from "throttle_counters" where "scope" = :scope and "last_attempt_at" <= :cutoff::timestamptz`,
        { scope: this.scope, cutoff },
        'run',
      );
    return deleted.affectedRows;
  }

  /** Removes one occurrence of the attempt's instant: concurrent attempts may share it. */
  private async refund(em: EntityManager, parameters: SqlParameters): Promise<void> {
    await em.getConnection().execute(
      `update "throttle_counters" as c
       set "attempts" = c."attempts"[:array_position(c."attempts", :now::timestamptz) - 1]
                     || c."attempts"[array_position(c."attempts", :now::timestamptz) + 1:]
       where c."scope" = :scope and c."subject_hash" = :subjectHash and :now::timestamptz = any(c."attempts")`,
      parameters,
      'run',
    );
  }

  private async retryAfterSeconds(em: EntityManager, parameters: SqlParameters): Promise<number> {
    const [row] = await em.getConnection().execute<{ retry_after_seconds: number }[]>(
      `select ceil(extract(epoch from ${RELEASE[this.policy.kind]} - :now::timestamptz))::int as "retry_after_seconds"
       from "throttle_counters" as c
       where c."scope" = :scope and c."subject_hash" = :subjectHash and ${blocked(this.policy.kind)}`,
      parameters,
    );
    // No row: the block ended between the two statements, so trying again at once may already pass.
    return Math.max(1, row?.retry_after_seconds ?? 1);
  }

  private parameters(subject: string): SqlParameters {
    const now = this.now();
    const { policy } = this;
    return {
      scope: this.scope,
      subjectHash: createHash('sha256').update(subject).digest('hex'),
      now: new Date(now).toISOString(),
      cutoff: new Date(now - policy.windowMs).toISOString(),
      allowance: policy.allowance,
      windowMs: policy.windowMs,
      firstDelayMs: policy.kind === 'backoff' ? policy.firstDelayMs : 0,
      maxDelayMs: policy.kind === 'backoff' ? policy.maxDelayMs : 0,
    };
  }
}
