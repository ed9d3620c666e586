import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, systemFork, type Identity } from '@nexusflow/kit';
import { postGraphQL, startSubgraphUnderTest, TcpProxy, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import { TestServices } from '../../../../test/support/services.ts';
import type { AuthServices } from '../../auth/src/context.ts';
import { Tenant, type TenantPlan } from '../../auth/src/entities/tenant.entity.ts';
import { subgraph as auth } from '../../auth/src/subgraph.ts';
import type { AiServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';
import { seedTenant } from '../../auth/test/seeders/tenant-with-members.seeder.ts';
import { FakeLlmProviders } from './support/fake-llm-providers.ts';

const COMPLETE = 'mutation ($input: CompletionInput!) { complete(input: $input) { model provider } }';
const hello = (extra: Record<string, unknown> = {}) => ({ messages: [{ role: 'USER', content: 'Say hello' }], ...extra });

const PLAN_CACHE_SECONDS = 30;
/** FREE chats with the small model, TEAM with Claude first; ENTERPRISE has no routes of its own and keeps the defaults. */
const PLAN_ROUTES = { FREE: { CHAT: ['gpt-4o-mini', 'claude-haiku-4-5'] }, TEAM: { CHAT: ['claude-sonnet-4-6', 'gpt-4o'] } };

/**
 * The ai subgraph asks the auth subgraph (through a proxy, so that a test can take it away) for the plan of the caller's
 * tenant, and routes the request by that plan's routes.
 */
describe("routing by the tenant's plan", () => {
  let fake: FakeLlmProviders;
  let authUnderTest: SubgraphUnderTest<AuthServices>;
  let ai: SubgraphUnderTest<AiServices>;
  let authProxy: TcpProxy;
  const clock = { now: Date.now() };
  const warnings: string[] = [];

  beforeAll(async () => {
    fake = await FakeLlmProviders.start();
    authUnderTest = await startSubgraphUnderTest('ai-plans-auth', (env) => auth.start(env));
    authProxy = await TcpProxy.start(authUnderTest.subgraph.graphqlUrl);
    ai = await startSubgraphUnderTest('ai-plans', (env) => subgraph.start(env, { clock: () => clock.now }), {
      ...fake.environment,
      AUTH_URL: authProxy.urlFor(authUnderTest.subgraph.graphqlUrl),
      AI_PLAN_ROUTES: JSON.stringify(PLAN_ROUTES),
      AI_PLAN_CACHE_SECONDS: String(PLAN_CACHE_SECONDS),
    });
    const logger = ai.subgraph.logger;
    const warn = logger.warn.bind(logger);
    logger.warn = (fields: unknown, message?: string) => {
      warnings.push(typeof fields === 'string' ? fields : (message ?? ''));
      return warn(fields, message);
    };
  });

  afterAll(async () => {
    await ai?.close();
    await authProxy?.close();
    await authUnderTest?.close();
    await fake?.close();
  });

  async function tenantOn(plan?: TenantPlan): Promise<string> {
    const em = systemFork(authUnderTest.subgraph.database);
    const id = randomUUID();
    em.create(Tenant, { id, name: `Plan ${id}`, slug: `plan-${id}`, ...(plan ? { plan } : {}) });
    await em.flush();
    return id;
  }
  const memberOf = (tenantId: string): Identity => ({ kind: 'user', userId: randomUUID(), tenantId, roles: [Role.Member] });
  const modelAnswering = async (tenantId: string, input = hello()) => {
    const answered = await ai.ask<{ complete: { model: string } }>(memberOf(tenantId), COMPLETE, { input });
    expect(answered.errors).toBeUndefined();
    return answered.data!.complete.model;
  };

  it("shows a tenant's members its plan as Tenant.plan: FREE from the start, then what it is set to", async () => {
    const em = systemFork(authUnderTest.subgraph.database);
    const { tenant, members, memberships } = await seedTenant(em, 'Planned', 1);
    const owner: Identity = { kind: 'user', userId: members[0]!.id, tenantId: tenant.id, roles: [memberships[0]!.role] };
    const planSeen = async () =>
      (await authUnderTest.ask<{ me: { tenant: { plan: string } } }>(owner, '{ me { tenant { plan } } }')).data?.me.tenant.plan;
    expect(await planSeen()).toBe('FREE');
    await em.nativeUpdate(Tenant, { id: tenant.id }, { plan: 'ENTERPRISE' });
    expect(await planSeen()).toBe('ENTERPRISE');
  });

  it("answers each tenant with its plan's model: FREE the small one, TEAM Claude, ENTERPRISE the default route", async () => {
    expect(await modelAnswering(await tenantOn())).toBe('gpt-4o-mini');
    expect(await modelAnswering(await tenantOn('TEAM'))).toBe('claude-sonnet-4-6');
    expect(await modelAnswering(await tenantOn('ENTERPRISE'))).toBe('gpt-4o');
  });

  it("keeps a plan's routes for the tasks it names only, and the model a request names first", async () => {
    const team = await tenantOn('TEAM');
    expect(await modelAnswering(team, hello({ task: 'SUMMARIZE' }))).toBe('gpt-4o-mini');
    expect(await modelAnswering(team, hello({ model: 'gpt-4o' }))).toBe('gpt-4o');
  });

  it('sees a change of plan once AI_PLAN_CACHE_SECONDS have passed', async () => {
    const tenantId = await tenantOn('TEAM');
    expect(await modelAnswering(tenantId)).toBe('claude-sonnet-4-6');
    await systemFork(authUnderTest.subgraph.database).nativeUpdate(Tenant, { id: tenantId }, { plan: 'FREE' });
    expect(await modelAnswering(tenantId)).toBe('claude-sonnet-4-6');
    clock.now += (PLAN_CACHE_SECONDS + 1) * 1000;
    expect(await modelAnswering(tenantId)).toBe('gpt-4o-mini');
  });

  it('answers by the default routes while auth cannot be asked, logs it, and asks again a few seconds later', async () => {
    const tenantId = await tenantOn('TEAM');
    authProxy.takeDown();
    try {
      expect(await modelAnswering(tenantId)).toBe('gpt-4o');
      expect(warnings).toContain("could not ask auth for the tenant's plan; routing by the default routes");
    } finally {
      authProxy.bringUp();
    }
    clock.now += 6_000;
    expect(await modelAnswering(tenantId)).toBe('claude-sonnet-4-6');
    expect(ai.loggedErrors).toEqual([]);
  });
});

describe('routing without plan routes', () => {
  it('never asks auth for a plan, so that a deployment without AI_PLAN_ROUTES does not depend on it', async () => {
    const fake = await FakeLlmProviders.start();
    const authStandIn = await TcpProxy.start();
    // Started from a migrated template: a second subgraph start must stay quick on a busy machine.
    const services = await TestServices.create('embedded', 'ai_no_plans');
    try {
      const ai = await services.start(subgraph, {
        ...(await services.environmentFor('ai')),
        ...fake.environment,
        AUTH_URL: `http://127.0.0.1:${authStandIn.port}/graphql`,
      });
      const identity: Identity = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Member] };
      const answered = await postGraphQL<{ complete: { model: string } }>(ai.graphqlUrl, COMPLETE, {
        variables: { input: hello() },
        headers: signIdentity(identity, ai.config.internalSecret),
      });
      expect(answered.data?.complete.model).toBe('gpt-4o');
      expect(authStandIn.refused + authStandIn.accepted).toBe(0);
    } finally {
      await services.close();
      await authStandIn.close();
      await fake.close();
    }
  });
});
