import { CronExpressionParser } from 'cron-parser';

/** How a schedule repeats: a cron expression read in an IANA time zone, or a fixed interval from an anchor. */
export type Recurrence = { kind: 'cron'; expression: string; timezone: string } | { kind: 'interval'; seconds: number; anchor: Date };

export type RecurrenceCheck = { ok: true } | { ok: false; field: string; problem: string };

export function isTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Whether a recurrence can be scheduled; otherwise the input field at fault and the problem, for a typed error. */
export function checkRecurrence(recurrence: Recurrence): RecurrenceCheck {
  if (recurrence.kind === 'interval') {
    return recurrence.seconds >= 60 && recurrence.seconds <= 366 * 86_400
      ? { ok: true }
      : { ok: false, field: 'intervalSeconds', problem: 'must be between 60 seconds and a year' };
  }
  if (!isTimezone(recurrence.timezone))
    return { ok: false, field: 'timezone', problem: `"${recurrence.timezone}" is not an IANA time zone` };
  if (recurrence.expression.trim().split(/\s+/).length !== 5) {
    return { ok: false, field: 'cron', problem: 'must have five fields: minute hour day-of-month month day-of-week' };
  }
  try {
    CronExpressionParser.parse(recurrence.expression, { tz: recurrence.timezone });
    return { ok: true };
  } catch (error) {
    return { ok: false, field: 'cron', problem: (error as Error).message };
  }
}

/**
 * The first occurrence strictly after `after`. Cron expressions are evaluated in the schedule's time
 * zone: on the day clocks spring forward a time that does not exist (02:30) fires once, at the first
 * valid instant after it; on the day they fall back a time that happens twice (01:30) fires once, at
 * its first occurrence.
 */
export function nextOccurrence(recurrence: Recurrence, after: Date): Date {
  if (recurrence.kind === 'interval') {
    const periodMs = recurrence.seconds * 1000;
    const elapsed = after.getTime() - recurrence.anchor.getTime();
    const periods = elapsed < 0 ? 0 : Math.floor(elapsed / periodMs) + 1;
    return new Date(recurrence.anchor.getTime() + periods * periodMs);
  }
  return CronExpressionParser.parse(recurrence.expression, { tz: recurrence.timezone, currentDate: after }).next().toDate();
}

export function upcomingOccurrences(recurrence: Recurrence, after: Date, count: number): Date[] {
  const occurrences: Date[] = [];
  let cursor = after;
  for (let i = 0; i < count; i++) {
    cursor = nextOccurrence(recurrence, cursor);
    occurrences.push(cursor);
  }
  return occurrences;
}
