import { describe, expect, it } from 'vitest';
import { everyBucket } from './event-store.ts';

describe('the buckets of a dashboard', () => {
  it('are the months from the one `from` falls in, in the year asked for, the years 1 to 99 included', () => {
    const starts = (from: string, to: string) =>
      everyBucket(new Date(from), new Date(to), 'MONTH', []).map(({ start }) => start.toISOString().slice(0, 10));

    expect(starts('2026-01-15T00:00:00Z', '2026-04-01T00:00:00Z')).toEqual(['2026-01-01', '2026-02-01', '2026-03-01']);
    expect(starts('0001-01-01T00:00:00Z', '0001-06-02T00:00:00Z')).toEqual([
      '0001-01-01',
      '0001-02-01',
      '0001-03-01',
      '0001-04-01',
      '0001-05-01',
      '0001-06-01',
    ]);
  });

  it('are days and weeks (from Monday) in those years too', () => {
    const starts = (bucket: 'DAY' | 'WEEK', from: string, to: string) =>
      everyBucket(new Date(from), new Date(to), bucket, []).map(({ start }) => start.toISOString().slice(0, 10));

    expect(starts('DAY', '0050-03-01T12:00:00Z', '0050-03-03T00:00:00Z')).toEqual(['0050-03-01', '0050-03-02']);
    expect(starts('WEEK', '2026-12-03T12:00:00Z', '2026-12-08T00:00:00Z')).toEqual(['2026-11-30', '2026-12-07']);
  });
});
