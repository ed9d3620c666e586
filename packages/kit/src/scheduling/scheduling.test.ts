import { describe, expect, it } from 'vitest';
import { afterFailedAttempt, backoffDelay } from './backoff.ts';
import { MisfirePolicy, occurrenceKey, planOccurrence } from './occurrences.ts';

const at = (iso: string) => new Date(iso);
const hourly = { kind: 'cron', expression: '0 * * * *', timezone: 'Europe/Berlin' } as const;

describe('the scheduling engine', () => {
  it('plans a due occurrence and moves its schedule to the first occurrence after now', () => {
    expect(
      planOccurrence({
        recurrence: hourly,
        dueAt: at('2026-03-29T00:00:00Z'),
        now: at('2026-03-29T00:00:05Z'),
        misfireGraceMs: 60_000,
        misfirePolicy: MisfirePolicy.Skip,
      }),
    ).toEqual({ dueAt: at('2026-03-29T00:00:00Z'), next: at('2026-03-29T01:00:00Z'), missed: false, action: 'fire' });
  });

  it('collapses occurrences missed beyond the grace period into one, fired or skipped by the misfire policy', () => {
    const late = { recurrence: hourly, dueAt: at('2026-03-29T00:00:00Z'), now: at('2026-03-30T10:30:00Z'), misfireGraceMs: 60_000 };
    expect(planOccurrence({ ...late, misfirePolicy: MisfirePolicy.RunOnce })).toMatchObject({
      missed: true,
      action: 'fire',
      next: at('2026-03-30T11:00:00Z'),
    });
    expect(planOccurrence({ ...late, misfirePolicy: MisfirePolicy.Skip })).toMatchObject({
      missed: true,
      action: 'skip',
      next: at('2026-03-30T11:00:00Z'),
    });
  });

  it('gives a one-off occurrence no next one', () => {
    expect(
      planOccurrence({
        recurrence: null,
        dueAt: at('2026-03-29T00:00:00Z'),
        now: at('2026-03-29T00:00:00Z'),
        misfireGraceMs: 0,
        misfirePolicy: MisfirePolicy.RunOnce,
      }).next,
    ).toBeNull();
  });

  it('names an occurrence the same way in every instance', () => {
    expect(occurrenceKey('schedule', 'abc', at('2026-03-08T07:30:00Z'))).toBe('schedule:abc:2026-03-08T07:30:00.000Z');
  });

  it('backs off exponentially up to its ceiling, and stops retrying after the last attempt', () => {
    const policy = { initialMs: 1000, maxMs: 5000 };
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(policy, attempt))).toEqual([1000, 2000, 4000, 5000, 5000]);
    const now = at('2026-01-01T00:00:00Z');
    expect(afterFailedAttempt({ attempts: 2, maxAttempts: 3, policy, now })).toEqual({
      retry: true,
      at: at('2026-01-01T00:00:02Z'),
      delayMs: 2000,
    });
    expect(afterFailedAttempt({ attempts: 3, maxAttempts: 3, policy, now })).toEqual({ retry: false });
  });
});
