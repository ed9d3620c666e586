import { describe, expect, it } from 'vitest';
import { utcDay } from './dates.ts';

describe('utcDay', () => {
  it('is midnight UTC of the day, months and days rolling over', () => {
    expect(utcDay(2026, 0, 31).toISOString()).toBe('2026-01-31T00:00:00.000Z');
    expect(utcDay(2026, 12, 1).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(utcDay(2026, 2, 0).toISOString()).toBe('2026-02-28T00:00:00.000Z');
  });

  it('keeps the years 0 to 99 as they are, where Date.UTC reads them as the 1900s', () => {
    expect(utcDay(1, 0, 1).toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(utcDay(99, 11, 31).toISOString()).toBe('0099-12-31T00:00:00.000Z');
    expect(new Date(Date.UTC(1, 0, 1)).toISOString()).toBe('1901-01-01T00:00:00.000Z');
  });
});
