import { describe, expect, it } from 'vitest';
import { CircuitBreakers } from './circuit-breaker.ts';
import { ModelRouter, retryAfterMsOf } from './router.ts';

describe('the wait before a retry', () => {
  const router = new ModelRouter({
    providers: new Map(),
    breakers: new CircuitBreakers({ failureThreshold: 3, cooldownMs: 1000, now: () => 0 }),
    maxRetries: 3,
    retryBaseMs: 100,
    retryMaxWaitMs: 5000,
  });

  it('doubles from the base while the provider names no wait', () => {
    const failure = { reason: 'HTTP 500', retryable: true };
    expect([1, 2, 3].map((retry) => router.waitBefore(retry, failure))).toEqual([100, 200, 400]);
  });

  it('is what Retry-After asks, but never longer than the cap', () => {
    expect(router.waitBefore(1, { reason: 'HTTP 429', retryable: true, retryAfterMs: 2000 })).toBe(2000);
    expect(router.waitBefore(1, { reason: 'HTTP 429', retryable: true, retryAfterMs: 60_000 })).toBe(5000);
  });

  it('reads retry-after-ms, Retry-After in seconds and Retry-After as a date', () => {
    expect(retryAfterMsOf(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
    expect(retryAfterMsOf(new Headers({ 'retry-after': '3' }))).toBe(3000);
    const now = Date.parse('2026-01-31T12:00:00Z');
    expect(retryAfterMsOf(new Headers({ 'retry-after': 'Sat, 31 Jan 2026 12:00:07 GMT' }), now)).toBe(7000);
    expect(retryAfterMsOf(new Headers({ 'retry-after': 'soon' }))).toBeUndefined();
  });
});

describe('a circuit breaker', () => {
  const clock = { now: 0 };
  const breakers = new CircuitBreakers({ failureThreshold: 2, cooldownMs: 1000, now: () => clock.now });

  it('opens after the threshold of failures in a row, lets one trial through after the cool-down, and closes on success', () => {
    breakers.recordFailure('openai:gpt-4o');
    expect(breakers.status('openai:gpt-4o')).toBe('DEGRADED');
    expect(breakers.tryAcquire('openai:gpt-4o')).toBe(true);
    breakers.recordFailure('openai:gpt-4o');
    expect(breakers.status('openai:gpt-4o')).toBe('OPEN_CIRCUIT');
    expect(breakers.tryAcquire('openai:gpt-4o')).toBe(false);

    clock.now += 1000;
    expect(breakers.status('openai:gpt-4o')).toBe('DEGRADED');
    expect(breakers.tryAcquire('openai:gpt-4o')).toBe(true);
    expect(breakers.tryAcquire('openai:gpt-4o')).toBe(false);
    breakers.recordSuccess('openai:gpt-4o');
    expect(breakers.status('openai:gpt-4o')).toBe('HEALTHY');
  });

  it('re-opens at once when the trial fails', () => {
    breakers.recordFailure('anthropic:claude-haiku-4-5');
    breakers.recordFailure('anthropic:claude-haiku-4-5');
    clock.now += 1000;
    expect(breakers.tryAcquire('anthropic:claude-haiku-4-5')).toBe(true);
    breakers.recordFailure('anthropic:claude-haiku-4-5');
    expect(breakers.status('anthropic:claude-haiku-4-5')).toBe('OPEN_CIRCUIT');
  });
});
