import { Role, signAccessToken } from '@nexusflow/kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway.ts';
import { startEdgeFixture, TEST_JWT_SECRET, type EdgeFixture } from './support/edge-fixture.ts';
import { ProtocolSession } from './support/ws-session.ts';

const member = { userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Member] };

/** Over WebSocket, every operation passes the same edge as over HTTP, and a refusal costs that operation only. */
describe('the gateway at its edge, over WebSocket', () => {
  let fixture: EdgeFixture;
  let gateway: RunningGateway;
  const sessions: ProtocolSession[] = [];

  const connect = async (target: RunningGateway = gateway, headers: Record<string, string> = {}) => {
    const session = await ProtocolSession.open(target.graphqlUrl, headers);
    sessions.push(session);
    return session;
  };

  beforeAll(async () => {
    fixture = await startEdgeFixture();
    gateway = await fixture.gateway();
  });

  afterAll(async () => {
    for (const session of sessions) session.close();
    await fixture?.close();
  });

  it('answers a result with errors as GraphQL errors on that operation, nothing internal in them, and keeps the connection', async () => {
    const session = await connect();
    expect(await session.init()).toBe(true);
    const failing = await session.run({ query: '{ failing topProducts(first: 1) { upc } }' });
    expect(failing.results).toHaveLength(1);
    expect(failing.results[0]?.data).toEqual({ failing: null, topProducts: [{ upc: '1' }] });
    expect(failing.results[0]?.errors).toEqual([
      { message: 'Internal server error', path: ['failing'], extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'troubled' } },
    ]);
    expect(JSON.stringify(failing)).not.toMatch(/ECONNREFUSED|secrets|10\.0\.0\.7/);
    expect(session.open).toBe(true);
    expect((await session.run({ query: '{ __typename }' })).results[0]?.data).toEqual({ __typename: 'Query' });
  });

  it('refuses an abusive document with the limit’s code on that operation only', async () => {
    const session = await connect();
    await session.init();
    const refused = await session.run({ query: `{ me { ${Array.from({ length: 40 }, (_, i) => `r${i}: reviews { body }`).join(' ')} } }` });
    expect(refused.errors).toEqual([
      {
        message: 'The operation uses 40 aliases once fragments are expanded; at most 30 are allowed',
        extensions: { code: 'MAX_ALIASES_LIMIT' },
      },
    ]);
    const nested = await session.run({
      query: 'query ($n: Int) { topProducts(first: $n) { upc } }',
      variables: { n: JSON.parse(`${'['.repeat(100)}1${']'.repeat(100)}`) },
    });
    expect(nested.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const broken = await session.run({ query: '{ me { id ' });
    expect(broken.errors?.[0]).toMatchObject({
      message: 'Syntax Error: Expected Name, found <EOF>.',
      extensions: { code: 'GRAPHQL_PARSE_FAILED' },
    });
    expect(session.open).toBe(true);
  });

  it('estimates and refuses costs as over HTTP', async () => {
    const strict = await fixture.gateway({ MAX_COST: '50' });
    const session = await connect(strict);
    await session.init();
    const refused = await session.run({ query: '{ topProducts(first: 10) { reviews { author { username } } } }' });
    expect(refused.results[0]?.errors?.[0]?.extensions?.code).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    const cheap = await session.run({ query: '{ me { id } }' });
    expect(cheap.results[0]?.extensions?.cost).toEqual({ estimated: 1, actual: 1, max: 50, mode: 'enforce' });
  });

  it('draws every operation, and the connection itself, from the same rate limits as HTTP', async () => {
    const limited = await fixture.gateway({ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '3' });
    const session = await connect(limited);
    expect(await session.init()).toBe(true);
    expect((await session.run({ query: '{ __typename }' })).results).toHaveLength(1);
    expect((await session.run({ query: '{ __typename }' })).results).toHaveLength(1);
    const refused = await session.run({ query: '{ __typename }' });
    expect(refused.errors).toEqual([
      {
        message: expect.stringMatching(/^Rate limit of 3 requests per minute per address exceeded; retry in \d+ s$/),
        extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) },
      },
    ]);
    expect(session.open).toBe(true);
    // HTTP from the same address has no budget left either.
    expect(
      (
        await fetch(limited.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"query":"{ __typename }"}',
        })
      ).status,
    ).toBe(429);
  });

  it('closes a connection that sends a message larger than the body limit with 1009', async () => {
    const small = await fixture.gateway({ MAX_BODY_BYTES: '4096' });
    const session = await connect(small);
    await session.init();
    session.send({ id: 'big', type: 'subscribe', payload: { query: `{ __typename } # ${'x'.repeat(10_000)}` } });
    expect((await session.closed).code).toBe(1009);
  });

  it('caps anonymous connections per address, and not signed-in ones', async () => {
    const capped = await fixture.gateway({ MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS: '2' });
    const anonymous = [await connect(capped), await connect(capped), await connect(capped)];
    expect(await anonymous[0]!.init()).toBe(true);
    expect(await anonymous[1]!.init()).toBe(true);
    expect(await anonymous[2]!.init()).toBe(false);
    expect(await anonymous[2]!.closed).toEqual({ code: 4403, reason: 'Too many anonymous connections from this address' });
    const { token } = await signAccessToken(member, TEST_JWT_SECRET, 900);
    const signedIn = await connect(capped);
    expect(await signedIn.init({ authorization: `Bearer ${token}` })).toBe(true);
    anonymous[0]!.close();
    await anonymous[0]!.closed;
    // The gateway counts the departure when the close reaches it; a new connection is let in from then on.
    await expect.poll(async () => (await connect(capped)).init()).toBe(true);
  });

  it('closes a connection with 4401 when its access token expires', async () => {
    // The gateway's clock runs 898.5 s ahead: a 900 s token (its expiry rounded down to the second) has at most 1.5 s left.
    const clock = await fixture.gateway({}, { now: () => Date.now() + 898_500 });
    const { token } = await signAccessToken(member, TEST_JWT_SECRET, 900);
    const session = await connect(clock);
    expect(await session.init({ authorization: `Bearer ${token}` })).toBe(true);
    expect(await session.closed).toEqual({ code: 4401, reason: 'Access token has expired' });
  });

  it('refuses a token that has already expired at connection time with 4403, saying so', async () => {
    const { token } = await signAccessToken(member, TEST_JWT_SECRET, 60, Date.now() - 120_000);
    const session = await connect();
    expect(await session.init({ authorization: `Bearer ${token}` })).toBe(false);
    expect(await session.closed).toEqual({ code: 4403, reason: 'Access token has expired' });
  });

  it('refuses credentials that are not text with 4403, rather than taking the client for anonymous', async () => {
    for (const payload of [{ authorization: { a: 1 } }, { token: 42 }, { apiKey: ['nfk_x'] }]) {
      const session = await connect();
      expect(await session.init(payload), JSON.stringify(payload)).toBe(false);
      expect((await session.closed).code).toBe(4403);
    }
    const named = await connect();
    await named.init({ authorization: { a: 1 } });
    expect(await named.closed).toEqual({ code: 4403, reason: 'authorization must be a string' });
  });

  it('refuses a token that does not verify with 4403, saying so as over HTTP', async () => {
    const session = await connect();
    expect(await session.init({ authorization: 'Bearer not-a-token' })).toBe(false);
    expect(await session.closed).toEqual({ code: 4403, reason: 'Access token is invalid' });
  });
});
