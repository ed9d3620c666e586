import { describe, expect, it } from 'vitest';
import { ConfigError } from '@nexusflow/kit';
import { loadAuthConfig } from '../src/config.ts';

describe('the auth throttling configuration', () => {
  it('defaults to 5 failures per email and 20 per address, then waits from 1 s doubling to 15 min, and 10 registrations per address an hour', () => {
    expect(loadAuthConfig({}).throttling).toEqual({
      loginsPerAccount: { kind: 'backoff', allowance: 5, firstDelayMs: 1000, maxDelayMs: 900_000, windowMs: 900_000 },
      loginsPerAddress: { kind: 'backoff', allowance: 20, firstDelayMs: 1000, maxDelayMs: 900_000, windowMs: 900_000 },
      registrationsPerAddress: { kind: 'quota', allowance: 10, windowMs: 3_600_000 },
    });
  });

  it('turns the per-address limits off with 0, never the per-email one', () => {
    const { throttling } = loadAuthConfig({ LOGIN_FAILURES_PER_ADDRESS: '0', REGISTRATIONS_PER_ADDRESS: '0' });
    expect(throttling.loginsPerAddress).toBeUndefined();
    expect(throttling.registrationsPerAddress).toBeUndefined();
    expect(() => loadAuthConfig({ LOGIN_FAILURES_PER_ACCOUNT: '0' })).toThrow(ConfigError);
  });

  it('refuses a longest wait that outlasts the failures it follows', () => {
    expect(() => loadAuthConfig({ LOGIN_DELAY_MAX_SECONDS: '1800' })).toThrow(
      'LOGIN_DELAY_MAX_SECONDS: must be at most LOGIN_FAILURE_WINDOW_SECONDS',
    );
    expect(() => loadAuthConfig({ LOGIN_DELAY_FIRST_SECONDS: '60', LOGIN_DELAY_MAX_SECONDS: '30' })).toThrow(
      'LOGIN_DELAY_MAX_SECONDS: must be at least LOGIN_DELAY_FIRST_SECONDS',
    );
  });
});
