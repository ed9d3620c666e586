import { expect, vi } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const PERIOD = { from: '2000-01-01T00:00:00.000Z', to: '2000-12-31T00:00:00.000Z' };
/** Around now: tenant A's sign-up (auth's `user.registered`) is its event. */
const recent = () => ({ from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date(Date.now() + 86_400_000).toISOString() });
const EVENTS = `query ($from: DateTime!, $to: DateTime!) { analyticsEvents(from: $from, to: $to, first: 100) { id type userId } }`;
const USAGE = `query ($from: DateTime!, $to: DateTime!) { usageMetrics(from: $from, to: $to) { activeUsers { daily { value } } aiTokens } }`;
const DASHBOARD = `query ($from: DateTime!, $to: DateTime!) { dashboard(metric: ACTIVE_USERS, bucket: DAY, from: $from, to: $to) { value } }`;
const COHORTS = `query ($from: DateTime!, $to: DateTime!) { cohorts(from: $from, to: $to) { size } }`;
const EXPORT = `query ($from: DateTime!, $to: DateTime!) { analyticsExport(from: $from, to: $to) { totalEvents } }`;

/** Tenant B (a stranger) sees none of tenant A's events, in no aggregate: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    // Tenant A's registration reaches analytics through the bus, after the response.
    const eventId = await vi.waitFor(
      async () => {
        const events = (await data(a, EVENTS, recent())).analyticsEvents as { id: string; type: string }[];
        const registered = events.find(({ type }) => type === 'user.registered');
        expect(registered).toBeDefined();
        return registered!.id;
      },
      { timeout: 20_000, interval: 100 },
    );
    return { eventId };
  },
  stateOfA: ({ a, data }) => data(a, EVENTS, recent()),
  root: {
    'Query.analyticsEvents': async ({ a, b, data }) => {
      const events = (await data(b, EVENTS, recent())).analyticsEvents as { userId: string | null }[];
      expect(events.filter(({ userId }) => userId === a.userId)).toEqual([]);
    },
    'Query.usageMetrics': async ({ b, data }) => {
      expect((await data(b, USAGE, PERIOD)).usageMetrics).toEqual({ activeUsers: { daily: [] }, aiTokens: 0 });
    },
    'Query.dashboard': async ({ b, data }) => {
      const { dashboard } = await data(b, DASHBOARD, recent());
      // Tenant B's owner is its one active user; tenant A's is not counted with it.
      expect((dashboard as { value: number }[]).every(({ value }) => value <= 1)).toBe(true);
    },
    'Query.cohorts': async ({ b, data }) => {
      // Tenant B's own owner is its one sign-up; tenant A's is not counted with it.
      expect((await data(b, COHORTS, recent())).cohorts).toEqual([{ size: 1 }]);
    },
    'Query.analyticsExport': async ({ b, data }) => {
      expect((await data(b, EXPORT, PERIOD)).analyticsExport).toEqual({ totalEvents: 0 });
    },
  },
  entities: { AnalyticsEvent: { selection: '... on AnalyticsEvent { id type }', id: ({ eventId }) => eventId } },
});
