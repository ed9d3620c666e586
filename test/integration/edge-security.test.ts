import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { IDENTITY_MAX_AGE_MS } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { LoginDocument } from '@nexusflow/web-client';
import { ProtocolSession } from '../../gateway/test/support/ws-session.ts';
import { signUp, TEST_PASSWORD } from '../support/accounts.ts';
import { collectExecutionUpdates, startHeldRun } from '../support/live-runs.ts';
import { RecordingServer } from '../support/recording-server.ts';
import { startStack, type Stack } from '../support/stack.ts';

/** The security review's amplification: each level spreads the one below twice, under two aliases. */
function doublingFragments(levels: number): string {
  let fragments = 'fragment L0 on User { id email }\n';
  for (let level = 1; level <= levels; level++)
    fragments += `fragment L${level} on User { a: tenant { users { ...L${level - 1} } } b: tenant { users { ...L${level - 1} } } }\n`;
  return `{ me { ...L${levels} } }\n${fragments}`;
}

const OWNER_UPDATES = `subscription Live($id: ID!) { executionUpdated(id: $id) { status execution { workflow { owner { email } } } } }`;

/**
 * The attacks of the security review, against the real subgraphs behind the gateway: each is refused with its code,
 * and the platform goes on serving.
 */
describe('the platform under the security review’s attacks', () => {
  let stack: Stack;
  let outside: RecordingServer;
  /** How far the clock of the gateway and of the auth subgraph runs ahead of the wall clock. */
  let ahead = 0;
  const clients: Client[] = [];
  const sessions: ProtocolSession[] = [];

  const register = () => signUp(stack.gateway.graphqlUrl, 'edge');

  beforeAll(async () => {
    outside = await new RecordingServer().start();
    stack = await startStack('embedded', 'edge_security', { now: () => Date.now() + ahead });
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    for (const session of sessions) session.close();
    await stack?.close();
    await outside?.close();
  });

  it('refuses three anonymous 1.7 KB amplified documents at once, and answers { __typename } meanwhile', async () => {
    const attack = doublingFragments(12);
    expect(attack.length).toBeLessThan(1800);
    const [responses, typename] = await Promise.all([
      Promise.all([1, 2, 3].map(() => postGraphQL(stack.gateway.graphqlUrl, attack))),
      postGraphQL(stack.gateway.graphqlUrl, '{ __typename }'),
    ]);
    for (const response of responses) {
      expect(response.status).toBe(400);
      expect(response.errors?.[0]?.extensions?.code).toBe('MAX_DEPTH_LIMIT');
    }
    expect(typename.data).toEqual({ __typename: 'Query' });
  });

  it('answers malformed ids with BAD_USER_INPUT, never an internal error', async () => {
    const { token } = await register();
    const user = await postGraphQL(stack.gateway.graphqlUrl, '{ user(id: "x") { id } }', { token });
    const notification = await postGraphQL(stack.gateway.graphqlUrl, 'mutation { markNotificationRead(id: "x") { id } }', { token });
    for (const response of [user, notification]) expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('answers values a subgraph or its database refuses with BAD_USER_INPUT, saying why, and stores nothing', async () => {
    const { token } = await register();
    const url = stack.gateway.graphqlUrl;
    const usage = 'query Usage($from: DateTime!) { usageMetrics(from: $from, to: "2026-01-01T00:00:00Z") { __typename } }';
    const notADate = await postGraphQL(url, usage, { token, variables: { from: 'not a date' } });
    const literal = await postGraphQL(url, '{ usageMetrics(from: "yesterday", to: "2026-01-01T00:00:00Z") { __typename } }', { token });
    const farFuture = await postGraphQL(url, usage, { token, variables: { from: '+275760-09-13T00:00:00Z' } });
    const tooLong = await postGraphQL(url, 'mutation Long($name: String) { saveCrmContact(input: { firstName: $name }) { id } }', {
      token,
      variables: { name: 'x'.repeat(256) },
    });
    const emptyEventType = await postGraphQL(
      url,
      'mutation { setNotificationPreference(eventType: " ", channels: [IN_APP]) { eventType } }',
      { token },
    );
    const notAPhone = await postGraphQL(url, 'mutation { setContactPoints(input: { phone: "abc" }) { phone } }', { token });
    const withNul = await postGraphQL(url, 'mutation { setContactPoints(input: { email: "a\\u0000b@example.com" }) { email } }', { token });

    expect(notADate.errors?.[0]).toMatchObject({
      message: expect.stringContaining('DateTime must be an ISO-8601 date-time string'),
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(literal.errors?.[0]?.message).toContain('DateTime must be an ISO-8601 date-time string');
    expect(literal.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(farFuture.errors?.[0]).toMatchObject({
      message: expect.stringContaining('between the years 0001 and 9999'),
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(tooLong.errors?.[0]).toMatchObject({
      message: 'A text value is longer than allowed (at most 255 characters)',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(emptyEventType.errors?.[0]).toMatchObject({
      message: 'eventType must have 1 to 255 characters',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(notAPhone.errors?.[0]).toMatchObject({ message: expect.stringContaining('E.164'), extensions: { code: 'BAD_USER_INPUT' } });
    expect(withNul.errors?.[0]).toMatchObject({
      message: 'Text may not contain the NUL character (U+0000)',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    const stored = await postGraphQL<{
      contactPoints: { email: string | null; phone: string | null } | null;
      me: { notificationPreferences: { eventType: string }[] | null };
      crmContacts: { nodes: { id: string }[] };
    }>(url, '{ contactPoints { email phone } me { notificationPreferences { eventType } } crmContacts { nodes { id } } }', { token });
    expect(stored.errors).toBeUndefined();
    expect(stored.data?.contactPoints ?? null).toBeNull();
    expect(stored.data?.me.notificationPreferences?.map((preference) => preference.eventType) ?? []).not.toContain(' ');
    expect(stored.data?.crmContacts.nodes).toEqual([]);
  });

  it('refuses text PostgreSQL cannot store over WebSocket as over HTTP, for a subscription and a mutation alike', async () => {
    const { token } = await register();
    const session = await ProtocolSession.open(stack.gateway.graphqlUrl);
    sessions.push(session);
    await session.init({ authorization: `Bearer ${token}` });

    const subscription = await session.run({ query: OWNER_UPDATES, variables: { id: 'a\u0000b' } });
    const mutation = await session.run({
      query: 'mutation { setContactPoints(input: { email: "a\\u0000b@example.com" }) { email } }',
    });

    const halfAPair = await session.run({ query: OWNER_UPDATES, variables: { id: 'a\uDC00b' } });

    const refusal = [{ message: 'Text may not contain the NUL character (U+0000)', extensions: { code: 'BAD_USER_INPUT' } }];
    expect(subscription).toMatchObject({ results: [], errors: refusal });
    expect(mutation).toMatchObject({ results: [], errors: refusal });
    expect(halfAPair).toMatchObject({
      results: [],
      errors: [
        {
          message: 'Text may not contain half of a UTF-16 surrogate pair (U+D800 to U+DFFF alone)',
          extensions: { code: 'BAD_USER_INPUT' },
        },
      ],
    });
    const stored = await postGraphQL<{ contactPoints: unknown }>(stack.gateway.graphqlUrl, '{ contactPoints { email } }', { token });
    expect(stored.data?.contactPoints ?? null).toBeNull();
  });

  it('names no field of the schema in a variable’s error when introspection is off, as in a validation error', async () => {
    const { token } = await register();
    const closed = await stack.startGateway({ INTROSPECTION: 'false' });
    const typo = 'query ($f: WorkflowFilterInput) { workflows(filter: $f) { edges { node { id } } } }';
    const ask = (url: string) => postGraphQL(url, typo, { token, variables: { f: { ownerI: 'x' } } });

    const hidden = await ask(closed.graphqlUrl);
    const shown = await ask(stack.gateway.graphqlUrl);

    expect(hidden.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(hidden.errors?.[0]?.message).toContain('Field "ownerI" is not defined by type "WorkflowFilterInput".');
    expect(hidden.errors?.[0]?.message).not.toContain('Did you mean');
    expect(shown.errors?.[0]?.message).toContain('Did you mean "ownerId"?');
  });

  it('keeps a subscription whose events need another subgraph alive past the lifetime of a signed identity', async () => {
    const { token, email } = await register();
    const executionId = await startHeldRun({
      graphqlUrl: stack.gateway.graphqlUrl,
      token,
      outside,
      path: '/edge-long-lived',
      name: 'Long-lived',
    });
    const client = createClient({
      url: stack.gateway.graphqlUrl.replace('http', 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    clients.push(client);
    const stream = collectExecutionUpdates<{ status: string; execution: { workflow: { owner: { email: string } } } }>(
      client,
      OWNER_UPDATES,
      executionId,
    );
    await stream.first;
    // Ten minutes later for the gateway and for auth: twice the age at which auth refuses a signature.
    ahead += 2 * IDENTITY_MAX_AGE_MS;
    outside.release('/edge-long-lived');
    await Promise.race([stream.completed, stream.failed.then((errors) => Promise.reject(new Error(JSON.stringify(errors))))]);
    expect(stream.updates.at(-1)).toEqual({ status: 'COMPLETED', execution: { workflow: { owner: { email } } } });
  });

  it('stops password guessing after a few failures, over HTTP and WebSocket alike, even with the right password', async () => {
    const { email } = await register();
    const login = (password: string) => postGraphQL(stack.gateway.graphqlUrl, LoginDocument, { variables: { input: { email, password } } });
    for (let attempt = 0; attempt < 5; attempt++)
      expect((await login('not the password')).data?.login).toMatchObject({ __typename: 'InvalidCredentials' });
    const overHttp = await login(TEST_PASSWORD);
    expect(overHttp.errors?.[0]).toMatchObject({ extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) } });

    const session = await ProtocolSession.open(stack.gateway.graphqlUrl);
    sessions.push(session);
    await session.init();
    const overWebSocket = await session.run({
      query: 'mutation ($input: LoginInput!) { login(input: $input) { __typename } }',
      variables: { input: { email, password: TEST_PASSWORD } },
    });
    expect(overWebSocket.results[0]?.errors?.[0]).toMatchObject({ extensions: { code: 'RATE_LIMITED' } });

    // Once the delay has passed (here: the clocks move on), the right password works again.
    ahead += 16 * 60_000;
    expect((await login(TEST_PASSWORD)).data?.login).toMatchObject({ __typename: 'AuthSession' });
  });

  it('counts failed sign-ins per client address too, with the address the gateway saw', async () => {
    const spray = (email: string) =>
      postGraphQL(stack.gateway.graphqlUrl, LoginDocument, { variables: { input: { email, password: 'Winter2026!' } } });
    for (let attempt = 0; attempt < 20; attempt++)
      expect((await spray(`nobody-${attempt}@example.com`)).data?.login).toMatchObject({ __typename: 'InvalidCredentials' });
    const blocked = await spray(`nobody-else@example.com`);
    expect(blocked.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    ahead += 16 * 60_000;
  });
});
