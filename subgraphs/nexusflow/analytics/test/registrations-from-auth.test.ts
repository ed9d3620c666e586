import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { signUp } from '../../../../test/support/accounts.ts';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';

const USAGE = `query ($from: DateTime!, $to: DateTime!) {
  usageMetrics(from: $from, to: $to) { activeUsers { daily { value } } executionDurations { count p50Ms } aiTokens }
}`;
interface Cohort {
  size: number;
  activeByWeek: number[];
}
interface Usage {
  activeUsers: { daily: { value: number }[] };
  executionDurations: { count: number; p50Ms: number | null };
  aiTokens: number;
}
const COHORTS = `query ($from: DateTime!, $to: DateTime!) { cohorts(from: $from, to: $to) { size activeByWeek } }`;

describe('the analytics subgraph through the nexusflow gateway, with auth publishing sign-ups', () => {
  let graph: GraphUnderTest;

  beforeAll(async () => {
    graph = await startGraphUnderTest('nexusflow', ['auth', 'analytics'], { label: 'analytics_gateway' });
  });

  afterAll(async () => {
    await graph?.close();
  });

  it("counts a registration through auth as its week's cohort and its day's active user", async () => {
    const owner = await signUp(graph.gateway.graphqlUrl, 'analytics');
    const period = { from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date(Date.now() + 86_400_000).toISOString() };
    const ask = <T>(query: string) => postGraphQL<T>(graph.gateway.graphqlUrl, query, { token: owner.token, variables: period });
    await expect
      .poll(async () => (await ask<{ cohorts: Cohort[] }>(COHORTS)).data?.cohorts, { timeout: 20_000, interval: 100 })
      .toEqual([{ size: 1, activeByWeek: [1] }]);
    const usage = await ask<{ usageMetrics: Usage }>(USAGE);
    expect(usage.errors).toBeUndefined();
    expect(usage.data?.usageMetrics).toEqual({
      activeUsers: { daily: [{ value: 1 }] },
      executionDurations: { count: 0, p50Ms: null },
      aiTokens: 0,
    });
  });

  it('refuses a VIEWER with FORBIDDEN and a request without a token with UNAUTHENTICATED', async () => {
    const period = { from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' };
    const token = await graph.tokenFor({ kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Viewer] });
    const refused = await postGraphQL(graph.gateway.graphqlUrl, USAGE, { token, variables: period });
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    const anonymous = await postGraphQL(graph.gateway.graphqlUrl, USAGE, { variables: period });
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });
});
