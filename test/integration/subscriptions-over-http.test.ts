import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { createClient, type Client } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { signAccessToken, verifyAccessToken } from '@nexusflow/kit';
import { createDeferred, postGraphQL } from '@nexusflow/kit/testing';
import { LoginDocument } from '@nexusflow/web-client';
import { signUp, TEST_PASSWORD } from '../support/accounts.ts';
import { collectExecutionUpdates, startHeldRun } from '../support/live-runs.ts';
import { RecordingServer } from '../support/recording-server.ts';
import { startStack, type Stack } from '../support/stack.ts';

const EXECUTION_UPDATED = `subscription Live($id: ID!) { executionUpdated(id: $id) { status execution { workflow { name owner { email } } } } }`;

type Update = { status: string; execution: { workflow: { name: string; owner: { email: string } } } };

/** Subscriptions for clients without WebSocket: Server-Sent Events (graphql-sse) and Apollo's multipart protocol. */
describe('subscriptions over plain HTTP', () => {
  let stack: Stack;
  let outside: RecordingServer;
  let session: { token: string; email: string };
  const clients: Client[] = [];

  beforeAll(async () => {
    outside = await new RecordingServer().start();
    stack = await startStack('embedded', 'subscriptions_over_http');
    session = await signUp(stack.gateway.graphqlUrl, 'streams');
  });

  afterAll(async () => {
    for (const client of clients) client.dispose();
    await stack?.close();
    await outside?.close();
  });

  const sseClient = (token = session.token) => {
    const client = createClient({ url: stack.gateway.graphqlUrl, headers: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
    clients.push(client);
    return client;
  };

  it('streams every change of an execution over Server-Sent Events, with fields from the auth subgraph', async () => {
    const executionId = await startHeldRun({
      graphqlUrl: stack.gateway.graphqlUrl,
      token: session.token,
      outside,
      path: '/sse-live',
      name: 'Streamed',
    });
    const { updates, first, completed } = collectExecutionUpdates<Update>(sseClient(), EXECUTION_UPDATED, executionId);
    await first;
    outside.release('/sse-live');
    await completed;
    expect(updates.at(-1)).toEqual({ status: 'COMPLETED', execution: { workflow: { name: 'Streamed', owner: { email: session.email } } } });
  });

  it('streams it to Apollo Client over the multipart protocol, each event as it happens, until the client leaves', async () => {
    // No heartbeat in this test's time: an event that reached the client only with the next part would never arrive.
    const quiet = await stack.startGateway({ MULTIPART_HEARTBEAT_MS: '3600000' });
    const executionId = await startHeldRun({
      graphqlUrl: quiet.graphqlUrl,
      token: session.token,
      outside,
      path: '/multipart-live',
      name: 'Parted',
    });
    const client = new ApolloClient({
      link: new HttpLink({ uri: quiet.graphqlUrl, headers: { authorization: `Bearer ${session.token}` } }),
      cache: new InMemoryCache(),
    });
    const updates: Update[] = [];
    const first = createDeferred();
    const completed = createDeferred();
    const subscription = client
      .subscribe<{ executionUpdated: Update }>({ query: gql(EXECUTION_UPDATED), variables: { id: executionId } })
      .subscribe({
        next: ({ data, error }) => {
          if (error) completed.reject(error);
          if (!data) return;
          updates.push(data.executionUpdated);
          first.resolve();
          if (data.executionUpdated.status === 'COMPLETED') completed.resolve();
        },
        error: (error: unknown) => completed.reject(error),
      });

    try {
      await first.promise;
      // Apollo Client adds each object's __typename to what it asked for.
      expect(updates).toMatchObject([{ status: 'RUNNING', execution: { workflow: { name: 'Parted', owner: { email: session.email } } } }]);
      outside.release('/multipart-live');
      await completed.promise;
    } finally {
      subscription.unsubscribe();
    }
    expect(updates.at(-1)).toMatchObject({
      status: 'COMPLETED',
      execution: { workflow: { name: 'Parted', owner: { email: session.email } } },
    });
  });

  it('answers a query asked for with the multipart protocol in one part, and ends the stream', async () => {
    const response = await fetch(stack.gateway.graphqlUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'multipart/mixed;subscriptionSpec="1.0"',
        authorization: `Bearer ${session.token}`,
      },
      body: JSON.stringify({ query: '{ me { email } }' }),
    });
    const body = await response.text();
    expect(body).toContain(`{"payload":{"data":{"me":{"email":"${session.email}"}}`);
    expect(body.endsWith('\r\n--graphql--\r\n')).toBe(true);
  });

  it('runs queries over Server-Sent Events, as curl would send them', async () => {
    const response = await fetch(stack.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${session.token}` },
      body: JSON.stringify({ query: '{ me { email } }' }),
    });
    const text = await response.text();
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(text).toContain(`event: next\ndata: {"data":{"me":{"email":"${session.email}"}}`);
    expect(text).toContain('event: complete');
  });

  it('refuses an abusive document over either protocol with the limit’s code', async () => {
    const abusive = `subscription { ${Array.from({ length: 40 }, (_, i) => `a${i}: notificationReceived { id }`).join(' ')} }`;
    const overMultipart = await fetch(stack.gateway.graphqlUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'multipart/mixed;subscriptionSpec="1.0"',
        authorization: `Bearer ${session.token}`,
      },
      body: JSON.stringify({ query: abusive }),
    });
    expect(overMultipart.status).toBe(400);
    expect(await overMultipart.json()).toEqual({ errors: [expect.objectContaining({ extensions: { code: 'MAX_ROOT_FIELDS_LIMIT' } })] });

    const errors = createDeferred<unknown>();
    sseClient().subscribe(
      { query: abusive },
      { next: ({ errors: received }) => errors.resolve(received), error: errors.reject, complete: () => undefined },
    );
    expect(await errors.promise).toEqual([expect.objectContaining({ extensions: { code: 'MAX_ROOT_FIELDS_LIMIT' } })]);
  });

  it('answers a subscription sent as a plain JSON request with 400 and the ways to subscribe', async () => {
    const response = await postGraphQL(stack.gateway.graphqlUrl, 'subscription { notificationReceived { id } }', { token: session.token });
    expect(response.status).toBe(400);
    expect(response.errors).toEqual([
      {
        message:
          'Subscriptions are served at this same URL over WebSocket (graphql-transport-ws), Server-Sent Events (Accept: text/event-stream; the graphql-sse protocol) and multipart HTTP (Accept: multipart/mixed;subscriptionSpec="1.0"), not as a plain JSON request',
        extensions: { code: 'BAD_REQUEST' },
      },
    ]);
  });

  const metric = async (name: string) => {
    const metrics = await (await fetch(`${stack.gateway.url}/metrics`)).text();
    return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(metrics)?.[1]);
  };

  const openStream = (accept: string, query: string, token: string, signal?: AbortSignal) =>
    fetch(stack.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
      ...(signal ? { signal } : {}),
    });

  it('ends the upstream subscription of an event stream its client left', async () => {
    const before = await metric('gateway_upstream_subscriptions');
    const leave = new AbortController();
    const response = await openStream(
      'text/event-stream',
      'subscription LeftBehind { notificationReceived { id } }',
      session.token,
      leave.signal,
    );
    expect(response.status).toBe(200);
    await vi.waitFor(async () => expect(await metric('gateway_upstream_subscriptions')).toBe(before + 1), { timeout: 5000 });
    leave.abort();
    await vi.waitFor(async () => expect(await metric('gateway_upstream_subscriptions')).toBe(before), { timeout: 5000 });
  });

  it('ends an event stream and a multipart stream when their session is revoked, saying so', async () => {
    const signedIn = (
      await postGraphQL(stack.gateway.graphqlUrl, LoginDocument, {
        variables: { input: { email: session.email, password: TEST_PASSWORD } },
      })
    ).data?.login;
    if (signedIn?.__typename !== 'AuthSession') throw new Error('login failed');
    const phone = signedIn.accessToken;
    const events = await openStream('text/event-stream', 'subscription { notificationReceived { id } }', phone);
    const parts = await openStream('multipart/mixed;subscriptionSpec="1.0"', 'subscription { notificationReceived { id } }', phone);
    const sessions = await postGraphQL<{ mySessions: { id: string; current: boolean }[] }>(
      stack.gateway.graphqlUrl,
      '{ mySessions { id current } }',
      { token: phone },
    );
    const phoneSession = sessions.data!.mySessions.find((candidate) => candidate.current)!.id;

    const revoked = await postGraphQL(stack.gateway.graphqlUrl, 'mutation ($id: ID!) { revokeSession(id: $id) { __typename } }', {
      token: session.token,
      variables: { id: phoneSession },
    });

    expect(revoked.data).toEqual({ revokeSession: { __typename: 'Session' } });
    const [eventText, partText] = await Promise.all([events.text(), parts.text()]);
    expect(eventText).toContain(
      'event: next\ndata: {"errors":[{"message":"Session has been revoked; sign in again","extensions":{"code":"UNAUTHENTICATED"}}]}',
    );
    expect(partText).toContain('"errors":[{"message":"Session has been revoked; sign in again","extensions":{"code":"UNAUTHENTICATED"}}]');
    expect(partText.endsWith('\r\n--graphql--\r\n')).toBe(true);
  });

  it('refuses a multipart request another site could send without asking, before anything runs', async () => {
    const response = await fetch(stack.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', accept: 'multipart/mixed;subscriptionSpec=1.0', authorization: `Bearer ${session.token}` },
      body: JSON.stringify({ query: 'mutation { markAllNotificationsRead { __typename } }' }),
    });

    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(body.errors[0]?.extensions.code).toBe('BAD_REQUEST');
    expect(body.errors[0]?.message).toContain('Cross-Site Request Forgery');
  });

  it('serves a single-connection reservation to the identity that made it only, and codes graphql-sse’s refusals', async () => {
    const reserve = await fetch(stack.gateway.graphqlUrl, { method: 'PUT', headers: { authorization: `Bearer ${session.token}` } });
    expect(reserve.status).toBe(201);
    const token = await reserve.text();
    const stranger = await signUp(stack.gateway.graphqlUrl, 'stranger');
    const connect = (bearer: string, signal?: AbortSignal) =>
      fetch(`${stack.gateway.graphqlUrl}?token=${token}`, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${bearer}` },
        ...(signal ? { signal } : {}),
      });

    const refused = await connect(stranger.token);
    expect(refused.status).toBe(404);
    expect(await refused.json()).toEqual({ errors: [{ message: 'Stream not found', extensions: { code: 'NOT_FOUND' } }] });
    const leave = new AbortController();
    const accepted = await connect(session.token, leave.signal);
    expect(accepted.status).toBe(200);
    leave.abort();
    const mutationOverGet = await fetch(
      `${stack.gateway.graphqlUrl}?query=${encodeURIComponent('mutation { markAllNotificationsRead { __typename } }')}`,
      {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${session.token}` },
      },
    );
    expect(mutationOverGet.status).toBe(405);
    expect(((await mutationOverGet.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe(
      'BAD_REQUEST',
    );
  });

  it('runs at most MAX_SUBSCRIPTIONS_PER_CONNECTION operations at once on one reservation, as on one WebSocket', async () => {
    const capped = await stack.startGateway({ MAX_SUBSCRIPTIONS_PER_CONNECTION: '2' });
    const authorization = `Bearer ${session.token}`;
    const token = await (await fetch(capped.graphqlUrl, { method: 'PUT', headers: { authorization } })).text();
    const leave = new AbortController();
    const stream = await fetch(`${capped.graphqlUrl}?token=${token}`, {
      headers: { accept: 'text/event-stream', authorization },
      signal: leave.signal,
    });
    const send = (operationId: string) =>
      fetch(capped.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization, 'x-graphql-event-stream-token': token },
        body: JSON.stringify({ query: 'subscription { notificationReceived { id } }', extensions: { operationId } }),
      });
    const stop = (operationId: string) =>
      fetch(`${capped.graphqlUrl}?token=${token}&operationId=${operationId}`, { method: 'DELETE', headers: { authorization } });

    try {
      expect(stream.status).toBe(200);
      expect([(await send('a')).status, (await send('b')).status]).toEqual([202, 202]);
      const third = await send('c');
      expect(third.status).toBe(429);
      expect(await third.json()).toEqual({
        errors: [{ message: 'At most 2 operations at once on one connection', extensions: { code: 'RATE_LIMITED' } }],
      });
      expect((await stop('a')).status).toBe(200);
      // The refused id was never taken: it can be sent again once there is room.
      expect((await send('c')).status).toBe(202);
      expect((await send('d')).status).toBe(429);
    } finally {
      leave.abort();
    }
  });

  it('ends an event stream when its access token expires, saying so', async () => {
    // The same user, with a token that lives two seconds: the stream ends by itself when it expires.
    const verification = await verifyAccessToken(session.token, stack.authConfig.jwtSecret);
    if (!verification.ok || verification.identity.kind !== 'user') throw new Error('the session token does not verify');
    const { token } = await signAccessToken(verification.identity, stack.authConfig.jwtSecret, 2);
    const response = await fetch(stack.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'subscription { notificationReceived { id } }' }),
    });
    const text = await response.text();
    expect(text).toContain(
      'event: next\ndata: {"errors":[{"message":"Access token has expired","extensions":{"code":"UNAUTHENTICATED"}}]}',
    );
    expect(text).toContain('event: complete');
  });
});
