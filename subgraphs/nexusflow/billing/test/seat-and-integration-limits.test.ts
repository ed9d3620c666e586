import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';
import { FakeStripe } from '../../../../test/support/fake-stripe.ts';

const REGISTER = `mutation ($input: RegisterInput!) {
  register(input: $input) { __typename ... on AuthSession { accessToken user { id tenant { id } } } }
}`;
const INVITE = `mutation ($input: InviteMemberInput!) {
  inviteMember(input: $input) { __typename ... on Invitation { email } ... on SeatLimitReached { message seats taken } }
}`;
const CONNECT = 'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl } }';
const CONNECT_HOOK = `mutation ($provider: IntegrationProvider!, $targetUrl: String!) {
  connectHookIntegration(provider: $provider, targetUrl: $targetUrl) {
    __typename ... on Integration { id } ... on IntegrationLimitReached { message limit connected }
  }
}`;
const SUBSCRIBE = 'mutation ($planId: ID!) { subscribe(planId: $planId) { __typename } }';
const ADD_PAYMENT_METHOD = 'mutation { addPaymentMethod { setupIntentId } }';

/** Billing's change reaches the auth and integrations services through the bus and their caches: waited for this long at most. */
const EVENTUALLY = { timeout: 15_000, interval: 50 };

describe.each(storageModes(['postgres', 'redis', 'amqp']))('seat and integration limits across the graph on $storage', ({ mode }) => {
  const stripe = new FakeStripe({
    secretKey: 'sk_test_seats',
    webhookSecret: 'whsec_seats_test',
    prices: { price_starter: { unitAmount: 2_900 } },
  });
  let graph: GraphUnderTest;

  beforeAll(async () => {
    await stripe.start();
    graph = await startGraphUnderTest('nexusflow', ['billing', 'auth', 'integrations'], {
      mode,
      label: 'billing_seats',
      settings: {
        billing: { ...stripe.environment, STRIPE_PRICE_STARTER: 'price_starter' },
        integrations: { INTEGRATIONS_HUBSPOT_CLIENT_ID: 'hubspot-client', INTEGRATIONS_HUBSPOT_CLIENT_SECRET: 'hubspot-secret' },
      },
    });
    stripe.webhookUrl = `${graph.subgraphs.billing!.url}/webhooks/stripe`;
  });

  afterAll(async () => {
    await stripe.close();
    await graph?.close();
  });

  const send = (token: string | undefined, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, { token, variables });
  const data = async (token: string, query: string, variables?: Record<string, unknown>) => {
    const response = await send(token, query, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data!;
  };
  const tokenOf = (tenantId: string, roles: Role[]) => graph.tokenFor({ kind: 'user', userId: randomUUID(), tenantId, roles });

  /** The tenant's OWNER files a card and moves it to the Starter plan, once Stripe's webhook filed the card. */
  async function upgrade(ownerToken: string): Promise<void> {
    const { addPaymentMethod } = await data(ownerToken, ADD_PAYMENT_METHOD);
    await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId);
    await expect
      .poll(async () => (await data(ownerToken, SUBSCRIBE, { planId: 'STARTER' })).subscribe.__typename, EVENTUALLY)
      .toBe('SubscriptionChanged');
  }

  it('answers inviteMember SeatLimitReached once members and open invitations fill the plan’s seats, and invites after an upgrade', async () => {
    const registered = (
      await send(undefined, REGISTER, {
        input: { email: `owner-${randomUUID()}@example.com`, password: 'correct horse battery', name: 'Olive', tenantName: 'Seats' },
      })
    ).data!.register;
    expect(registered.__typename).toBe('AuthSession');
    const owner: string = registered.accessToken;
    const invite = async (email: string, role = 'MEMBER') => (await data(owner, INVITE, { input: { email, role } })).inviteMember;

    // The free plan has 3 seats: the OWNER's and two open invitations.
    expect(await invite('first@example.com')).toEqual({ __typename: 'Invitation', email: 'first@example.com' });
    expect(await invite('second@example.com')).toEqual({ __typename: 'Invitation', email: 'second@example.com' });
    expect(await invite('third@example.com')).toEqual({
      __typename: 'SeatLimitReached',
      message: 'Your plan allows 3 members, and members and open invitations take 3 seats',
      seats: 3,
      taken: 3,
    });
    // Inviting someone again replaces their open invitation, taking no further seat.
    expect((await invite('second@example.com', 'VIEWER')).__typename).toBe('Invitation');

    const viewer = await tokenOf(registered.user.tenant.id, [Role.Viewer]);
    expect((await send(viewer, INVITE, { input: { email: 'fourth@example.com', role: 'VIEWER' } })).errors?.[0]?.extensions?.code).toBe(
      'FORBIDDEN',
    );

    await upgrade(owner);
    await expect.poll(async () => (await invite('third@example.com')).__typename, EVENTUALLY).toBe('Invitation');
  });

  it('refuses a connection beyond the plan’s integrations, typed for hooks and PLAN_LIMIT_REACHED for OAuth, until an upgrade', async () => {
    const tenantId = randomUUID();
    const owner = await tokenOf(tenantId, [Role.Owner]);
    const connectHook = async (zap: number) =>
      (await data(owner, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl: `https://hooks.zapier.com/hooks/catch/${zap}/zap/` }))
        .connectHookIntegration;

    expect((await connectHook(1)).__typename).toBe('Integration');
    expect((await connectHook(2)).__typename).toBe('Integration');
    expect(await connectHook(3)).toEqual({
      __typename: 'IntegrationLimitReached',
      message: 'Your plan allows 2 integrations, and 2 are connected; upgrade it or disconnect one first',
      limit: 2,
      connected: 2,
    });
    const refused = await send(owner, CONNECT, { provider: 'HUBSPOT' });
    expect(refused.errors?.map(({ message, extensions }) => [extensions?.code, message])).toEqual([
      ['PLAN_LIMIT_REACHED', 'Your plan allows 2 integrations, and 2 are connected; upgrade it or disconnect one first'],
    ]);

    const viewer = await tokenOf(tenantId, [Role.Viewer]);
    for (const [query, variables] of [
      [CONNECT_HOOK, { provider: 'ZAPIER', targetUrl: 'https://hooks.zapier.com/hooks/catch/4/zap/' }],
      [CONNECT, { provider: 'HUBSPOT' }],
    ] as const) {
      expect((await send(viewer, query, variables)).errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    }

    await upgrade(owner);
    await expect.poll(async () => (await connectHook(3)).__typename, EVENTUALLY).toBe('Integration');
    expect((await data(owner, CONNECT, { provider: 'HUBSPOT' })).connectIntegration.authorizationUrl).toMatch(/^https:\/\//);
  });
});
