import { expect, vi } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const SUBSCRIBE =
  'mutation ($planId: ID!) { subscribe(planId: $planId) { __typename ... on SubscriptionChanged { subscription { id } } } }';
const SUBSCRIPTION = '{ subscription { id status plan { id } cancelAtPeriodEnd canceledAt } }';
const USAGE = '{ usage { meters { metric used } } }';

/**
 * Tenant B (a stranger) never sees, nor changes, tenant A's plan: run by test/integration/tenant-isolation.test.ts,
 * whose stack has no Stripe account, so tenant A is on the free plan and paid operations are unavailable to both.
 * The metered usage reported to Stripe (`usage_reports`) is read by no operation (`usage` is counted from
 * `usage_counters`), so it needs no case of its own.
 */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const { subscribe } = await data(a, SUBSCRIBE, { planId: 'FREE' });
    expect(subscribe.__typename).toBe('SubscriptionChanged');
    // The run of tenant A's fixture, once billing counted it: what tenant B's usage must not show.
    await vi.waitFor(
      async () => {
        const { usage } = await data(a, USAGE);
        const executions = (usage.meters as { metric: string; used: number }[]).find((meter) => meter.metric === 'EXECUTIONS');
        expect(executions?.used).toBeGreaterThan(0);
      },
      { timeout: 20_000, interval: 50 },
    );
    return { id: subscribe.subscription.id as string };
  },
  stateOfA: ({ a, data }) => data(a, SUBSCRIPTION),
  root: {
    'Query.plans': async ({ b, data }) => {
      expect((await data(b, '{ plans { id } }')).plans).toHaveLength(4);
    },
    'Query.subscription': async ({ b, data }) => {
      expect((await data(b, SUBSCRIPTION)).subscription).toBeNull();
    },
    'Query.invoices': async ({ b, data }) => {
      expect((await data(b, '{ invoices { id } }')).invoices).toEqual([]);
    },
    'Query.usage': async ({ b, data }) => {
      const { usage } = await data(b, USAGE);
      expect((usage.meters as { used: number }[]).map((meter) => meter.used)).toEqual([0, 0]);
    },
    'Mutation.subscribe': async ({ b, data }) => {
      expect((await data(b, SUBSCRIBE, { planId: 'FREE' })).subscribe.__typename).toBe('SubscriptionChanged');
    },
    'Mutation.changePlan': async ({ b, data }) => {
      const { changePlan } = await data(b, 'mutation { changePlan(planId: "FREE") { __typename } }');
      expect(['AlreadyOnPlan', 'NoSubscription']).toContain(changePlan.__typename);
    },
    'Mutation.cancelSubscription': async ({ b, data }) => {
      await data(b, 'mutation { cancelSubscription(atPeriodEnd: false) { __typename } }');
    },
    'Mutation.addPaymentMethod': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { addPaymentMethod { setupIntentId } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
  },
  entities: {},
});
