import { Kind } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DateTimeScalar } from './scalars.ts';

describe('the DateTime scalar', () => {
  it('reads an ISO-8601 instant from a variable and from a literal', () => {
    expect(DateTimeScalar.parseValue('2026-01-31T12:00:00.000Z')).toEqual(new Date('2026-01-31T12:00:00.000Z'));
    expect(DateTimeScalar.parseLiteral({ kind: Kind.STRING, value: '0001-01-01T00:00:00Z' })).toEqual(new Date('0001-01-01T00:00:00Z'));
    expect(DateTimeScalar.parseValue('9999-12-31T23:59:59.999Z')).toEqual(new Date('9999-12-31T23:59:59.999Z'));
  });

  it('refuses text that is no instant, and a day its month does not have, which JavaScript would roll over', () => {
    for (const text of ['not a date', '2026-02-30T00:00:00Z', '2026-04-31T10:00:00+02:00', '2025-02-29', '2026-00-10T00:00:00Z'])
      expect(() => DateTimeScalar.parseValue(text), text).toThrow('DateTime must be an ISO-8601 date-time string');
    expect(DateTimeScalar.parseValue('2024-02-29T12:00:00Z')).toEqual(new Date('2024-02-29T12:00:00Z'));
  });

  it('refuses instants JavaScript reads but PostgreSQL cannot store, as the caller’s mistake', () => {
    for (const far of ['+275760-09-13T00:00:00Z', '-010000-01-01T00:00:00Z', '+010000-01-01T00:00:00Z'])
      expect(() => DateTimeScalar.parseValue(far), far).toThrow('DateTime must fall between the years 0001 and 9999');
    expect(() => DateTimeScalar.parseLiteral({ kind: Kind.STRING, value: '-000001-01-01T00:00:00Z' })).toThrow('between the years');
  });
});
