import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InMemoryEventBus } from '../messaging/event-bus.ts';
import { Role } from '../platform/identity.ts';
import { createLogger } from '../platform/logger.ts';
import { TenantAnswerCache } from './tenant-answer-cache.ts';

const logger = createLogger({ name: 'tenant-answer-cache-test', level: 'silent' });
const memberOf = (tenantId: string) => ({ kind: 'user' as const, userId: randomUUID(), tenantId, roles: [Role.Member] });

/** A cache over an answer the test gives, on a clock the test moves. */
function cacheOver(answers: { next: number | Error }, clock = { now: 0 }) {
  const asked: string[] = [];
  const cache = new TenantAnswerCache<number>({
    ask: async (identity) => {
      asked.push(identity.tenantId);
      if (answers.next instanceof Error) throw answers.next;
      return answers.next;
    },
    whenUnavailable: () => -1,
    description: 'a number',
    logger,
    now: () => clock.now,
    ttlMs: 1_000,
    unavailableTtlMs: 100,
  });
  return { cache, asked, clock };
}

describe('a cache of another service’s answers per tenant', () => {
  it('asks once per tenant until the answer is older than its lifetime', async () => {
    const answers = { next: 5 };
    const { cache, asked, clock } = cacheOver(answers);
    const [one, other] = [memberOf(randomUUID()), memberOf(randomUUID())];
    expect([await cache.get(one), await cache.get(one), await cache.get(other)]).toEqual([5, 5, 5]);
    expect(asked).toEqual([one.tenantId, other.tenantId]);
    answers.next = 7;
    clock.now = 999;
    expect(await cache.get(one)).toBe(5);
    clock.now = 1_000;
    expect(await cache.get(one)).toBe(7);
  });

  it('holds the default for a short while when the service cannot be asked', async () => {
    const answers: { next: number | Error } = { next: new Error('connection refused') };
    const { cache, asked, clock } = cacheOver(answers);
    const member = memberOf(randomUUID());
    expect(await cache.get(member)).toBe(-1);
    answers.next = 3;
    expect(await cache.get(member)).toBe(-1);
    clock.now = 100;
    expect(await cache.get(member)).toBe(3);
    expect(asked).toHaveLength(2);
  });

  it('forgets a tenant’s answer when an event of its bindings says it changed, and only that tenant’s', async () => {
    const bus = new InMemoryEventBus(logger);
    const answers = { next: 1 };
    const { cache } = cacheOver(answers);
    const [changed, unchanged] = [memberOf(randomUUID()), memberOf(randomUUID())];
    await cache.get(changed);
    await cache.get(unchanged);
    const listening = await cache.listen(bus, 'test.plan-changes', ['plan.changed']);
    answers.next = 2;
    await bus.publish({
      id: randomUUID(),
      type: 'plan.changed',
      occurredAt: new Date().toISOString(),
      tenantId: changed.tenantId,
      payload: {},
    });
    await expect.poll(() => cache.peek(changed.tenantId)).toBeUndefined();
    expect([await cache.get(changed), await cache.get(unchanged)]).toEqual([2, 1]);
    await listening.stop();
    await bus.close();
  });
});
