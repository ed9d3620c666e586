import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * The recent counted attempts of one throttled subject (an account's failed sign-ins, an address's
 * failed sign-ins or registrations). Written only by atomic SQL in `domain/throttle.ts`, so that
 * every auth instance shares one count and concurrent attempts are never lost.
 */
export const ThrottleCounterSchema = defineEntity({
  name: 'ThrottleCounter',
  tableName: 'throttle_counters',
  indexes: [{ properties: ['scope', 'lastAttemptAt'] }],
  properties: {
    /** What is counted: `login-account`, `login-address` or `registration-address`. */
    scope: p.string().primary(),
    /** SHA-256 of the normalised email or address: fixed length whatever a caller sends, and no plain emails or addresses at rest. */
    subjectHash: p.string().primary(),
    /** When each counted attempt happened; attempts older than the scope's window are dropped on the next write. */
    attempts: p
      .array(
        (value) => new Date(value),
        (instant: Date) => instant.toISOString(),
      )
      .columnType('timestamptz[]'),
    /** The newest attempt ever made, refunded ones included; only pruning reads it. */
    lastAttemptAt: p.datetime(),
  },
});

export class ThrottleCounter extends ThrottleCounterSchema.class {}
ThrottleCounterSchema.setClass(ThrottleCounter);
