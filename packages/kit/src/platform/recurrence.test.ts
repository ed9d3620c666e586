import { describe, expect, it } from 'vitest';
import { checkRecurrence, nextOccurrence, upcomingOccurrences, type Recurrence } from './recurrence.ts';

const newYork = (expression: string): Recurrence => ({ kind: 'cron', expression, timezone: 'America/New_York' });
const iso = (dates: Date[]) => dates.map((date) => date.toISOString());

describe('cron schedules across daylight-saving changes', () => {
  it('runs a 02:30 daily job once on the day clocks spring forward, at 03:30 local time', () => {
    const runs = upcomingOccurrences(newYork('30 2 * * *'), new Date('2026-03-07T12:00:00Z'), 3);
    expect(iso(runs)).toEqual(['2026-03-08T07:30:00.000Z', '2026-03-09T06:30:00.000Z', '2026-03-10T06:30:00.000Z']);
  });

  it('runs a 01:30 daily job once on the day clocks fall back, although 01:30 happens twice', () => {
    const runs = upcomingOccurrences(newYork('30 1 * * *'), new Date('2026-10-31T12:00:00Z'), 3);
    // 05:30 UTC is the first 01:30 (EDT); the second, 06:30 UTC (EST), is not a second run.
    expect(iso(runs)).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z', '2026-11-03T06:30:00.000Z']);
  });

  it('keeps local wall-clock time: 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer', () => {
    expect(nextOccurrence(newYork('0 9 * * *'), new Date('2026-01-15T00:00:00Z')).toISOString()).toBe('2026-01-15T14:00:00.000Z');
    expect(nextOccurrence(newYork('0 9 * * *'), new Date('2026-07-15T00:00:00Z')).toISOString()).toBe('2026-07-15T13:00:00.000Z');
  });
});

describe('interval schedules', () => {
  it('fire on a fixed grid from their anchor, unaffected by daylight saving', () => {
    const every90Minutes: Recurrence = { kind: 'interval', seconds: 5400, anchor: new Date('2026-03-08T05:00:00Z') };
    expect(iso(upcomingOccurrences(every90Minutes, new Date('2026-03-08T05:00:00Z'), 3))).toEqual([
      '2026-03-08T06:30:00.000Z',
      '2026-03-08T08:00:00.000Z',
      '2026-03-08T09:30:00.000Z',
    ]);
  });

  it('start at the anchor when asked before it', () => {
    const hourly: Recurrence = { kind: 'interval', seconds: 3600, anchor: new Date('2026-05-01T10:00:00Z') };
    expect(nextOccurrence(hourly, new Date('2026-05-01T00:00:00Z')).toISOString()).toBe('2026-05-01T10:00:00.000Z');
  });
});

describe('checkRecurrence', () => {
  it('refuses unknown time zones, malformed expressions and too short intervals, saying which field', () => {
    expect(checkRecurrence({ kind: 'cron', expression: '0 9 * * *', timezone: 'Mars/Olympus_Mons' })).toMatchObject({
      ok: false,
      field: 'timezone',
    });
    expect(checkRecurrence({ kind: 'cron', expression: '61 9 * * *', timezone: 'UTC' })).toMatchObject({ ok: false, field: 'cron' });
    expect(checkRecurrence({ kind: 'cron', expression: '0 9 * *', timezone: 'UTC' })).toMatchObject({ ok: false, field: 'cron' });
    expect(checkRecurrence({ kind: 'interval', seconds: 5, anchor: new Date() })).toMatchObject({ ok: false, field: 'intervalSeconds' });
    expect(checkRecurrence({ kind: 'cron', expression: '*/15 8-18 * * 1-5', timezone: 'Europe/Berlin' })).toEqual({ ok: true });
  });
});
