import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode } from '@nexusflow/kit';
import { createDeferred, postGraphQL } from '@nexusflow/kit/testing';
import { RegisterDocument } from '@nexusflow/web-client';
import { RecordingServer } from '../support/recording-server.ts';
import { startHeldRun } from '../support/live-runs.ts';
import { startStack, type Stack } from '../support/stack.ts';

const EXECUTION_UPDATED = `subscription Live($id: ID!) {
  executionUpdated(id: $id) {
    event
    status
    execution { id status workflow { name owner { email } } }
  }
}`;

type Update = {
  event: string;
  status: string;
  execution: { id: string; status: string; workflow: { name: string; owner: { email: string } } };
};

/** Federated subscriptions at the gateway, with the official graphql-ws client, as web clients use them. */
describe('subscriptions through the gateway', () => {
  let stack: Stack;
  let outside: RecordingServer;
  let session: { token: string; email: string };
  const clients: Client[] = [];

  const wsUrl = () => stack.gateway.graphqlUrl.replace('http://', 'ws://');
  const connect = (token = session.token) => {
    const client = createClient({
      url: wsUrl(),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    clients.push(client);
    return client;
  };

  const heldRun = (path: string) =>
    startHeldRun({ graphqlUrl: stack.gateway.graphqlUrl, token: session.token, outside, path, name: 'Watched' });

  function watch(client: Client, executionId: string) {
    const updates: Update[] = [];
    const first = createDeferred();
    const completed = createDeferred();
    client.subscribe<{ executionUpdated: Update }>(
      { query: EXECUTION_UPDATED, variables: { id: executionId } },
      {
        next: ({ data, errors }) => {
          if (errors) completed.reject(new Error(JSON.stringify(errors)));
          if (!data) return;
          updates.push(data.executionUpdated);
          first.resolve();
          if (data.executionUpdated.status === 'COMPLETED') completed.resolve();
        },
        error: (error) => completed.reject(error),
        complete: () => undefined,
      },
    );
    return { updates, first: first.promise, completed: completed.promise };
  }

  const metric = async (name: string) => {
    const metrics = await (await fetch(`${stack.gateway.url}/metrics`)).text();
    return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(metrics)?.[1]);
  };
  const upstreamCount = () => metric('gateway_upstream_subscriptions');

  beforeAll(async () => {
    outside = await new RecordingServer().start();
    stack = await startStack('embedded', 'gateway_subscriptions');
    const email = `watcher-${randomUUID()}@example.com`;
    const registered = (
      await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
        variables: { input: { email, password: 'correct horse battery', name: 'Watcher', tenantName: 'Watchers' } },
      })
    ).data?.register;
    if (registered?.__typename !== 'AuthSession') throw new Error('registration failed');
    session = { token: registered.accessToken, email };
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await stack?.close();
    await outside?.close();
  });

  it("streams every status change of an execution, in order, with the owner's email from the auth subgraph", async () => {
    const executionId = await heldRun('/gw-live');
    const stream = watch(connect(), executionId);
    await stream.first;
    outside.release('/gw-live');
    await stream.completed;

    expect(stream.updates.map((u) => [u.event, u.status])).toEqual([
      ['workflow.execution.snapshot', 'RUNNING'],
      ['workflow.step.completed', 'RUNNING'],
      ['workflow.step.completed', 'RUNNING'],
      ['workflow.execution.completed', 'COMPLETED'],
    ]);
    for (const update of stream.updates) expect(update.execution.workflow).toEqual({ name: 'Watched', owner: { email: session.email } });
  });

  it('shares one upstream subscription, and one resolution of each event, among identical subscriptions, and ends it when the last one leaves', async () => {
    for (const client of clients.splice(0)) await client.dispose();
    await expect.poll(upstreamCount).toBe(0);
    const resolvedBefore = await metric('gateway_subscription_events_resolved_total');
    const executionId = await heldRun('/gw-shared');
    const streams = [watch(connect(), executionId), watch(connect(), executionId), watch(connect(), executionId)];
    await Promise.all(streams.map((stream) => stream.first));
    expect(await upstreamCount()).toBe(1);
    outside.release('/gw-shared');
    await Promise.all(streams.map((stream) => stream.completed));
    for (const stream of streams) {
      expect(stream.updates.map((update) => update.event)).toEqual([
        'workflow.execution.snapshot',
        'workflow.step.completed',
        'workflow.step.completed',
        'workflow.execution.completed',
      ]);
      expect(stream.updates.at(-1)?.execution.workflow.owner.email).toBe(session.email);
    }
    expect((await metric('gateway_subscription_events_resolved_total')) - resolvedBefore).toBe(4);
    for (const client of clients.splice(0)) await client.dispose();
    await expect.poll(upstreamCount).toBe(0);
  });

  it('gives an event whose entity fetch fails an errors entry, and goes on streaming', async () => {
    const cutOff = await stack.startGateway({ SUBGRAPH_AUTH_URL: 'http://127.0.0.1:9/graphql' });
    const executionId = await heldRun('/gw-broken-entity');
    const client = createClient({
      url: cutOff.graphqlUrl.replace('http://', 'ws://'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${session.token}` },
      retryAttempts: 0,
    });
    clients.push(client);
    const messages: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] }[] = [];
    const four = createDeferred();
    client.subscribe(
      { query: EXECUTION_UPDATED, variables: { id: executionId } },
      {
        next: (message) => {
          messages.push(message as (typeof messages)[number]);
          if (messages.length === 1) outside.release('/gw-broken-entity');
          if (messages.length === 4) four.resolve();
        },
        error: (error) => four.reject(error),
        complete: () => undefined,
      },
    );
    await four.promise;
    for (const message of messages) {
      expect(message.errors?.[0]).toMatchObject({
        message: 'The auth service is unavailable',
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
    }
  });

  it('refuses a malformed id with BAD_USER_INPUT at the field it was given to, over WebSocket as over HTTP', async () => {
    const query = 'subscription { executionUpdated(id: "abc") { status } }';
    const overWebSocket = await new Promise<unknown[]>((resolve, reject) => {
      const payloads: unknown[] = [];
      connect().subscribe({ query }, { next: (payload) => payloads.push(payload), error: reject, complete: () => resolve(payloads) });
    });
    const overHttp = await fetch(stack.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${session.token}` },
      body: JSON.stringify({ query }),
    });
    const refusal = {
      errors: [
        {
          message: '"id" must be a UUID',
          path: ['executionUpdated'],
          extensions: { field: 'id', code: 'BAD_USER_INPUT', serviceName: 'workflows' },
        },
      ],
    };
    expect(overWebSocket).toEqual([refusal]);
    const events = (await overHttp.text()).split('\n\n').filter((event) => event.startsWith('event:'));
    expect(events).toEqual([`event: next\ndata: ${JSON.stringify(refusal)}`, 'event: complete\ndata:']);
  });

  it('runs queries over the same WebSocket, with their cost as over HTTP', async () => {
    const client = connect();
    const result = await new Promise((resolve, reject) => {
      client.subscribe({ query: '{ me { email } }' }, { next: resolve, error: reject, complete: () => undefined });
    });
    expect(result).toEqual({
      data: { me: { email: session.email } },
      extensions: { cost: { estimated: 1, actual: 1, max: 5000, mode: 'enforce' } },
    });
  });

  describe('the protocol, spoken by a raw WebSocket', () => {
    const open = () =>
      new Promise<WebSocket>((resolve, reject) => {
        const socket = new WebSocket(wsUrl(), 'graphql-transport-ws');
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
      });
    const closeCode = (socket: WebSocket) => new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    const send = (socket: WebSocket, message: unknown) => socket.send(typeof message === 'string' ? message : JSON.stringify(message));
    const acknowledged = (socket: WebSocket) =>
      new Promise<void>((resolve) => socket.on('message', (data) => JSON.parse(String(data)).type === 'connection_ack' && resolve()));

    it('closes with 4403 when connection_init carries a token that does not verify', async () => {
      const socket = await open();
      const closed = closeCode(socket);
      send(socket, { type: 'connection_init', payload: { authorization: 'Bearer not.a.token' } });
      expect(await closed).toBe(CloseCode.Forbidden);
    });

    it('closes with 4400 on a message that is not the protocol', async () => {
      const socket = await open();
      const closed = closeCode(socket);
      send(socket, '{"type":"nonsense"}');
      expect(await closed).toBe(CloseCode.BadRequest);
    });

    it('closes with 4401 on a subscribe before the connection is acknowledged', async () => {
      const socket = await open();
      const closed = closeCode(socket);
      send(socket, { id: '1', type: 'subscribe', payload: { query: '{ me { id } }' } });
      expect(await closed).toBe(CloseCode.Unauthorized);
    });

    it('closes with 4429 on a second connection_init', async () => {
      const socket = await open();
      const closed = closeCode(socket);
      const ack = acknowledged(socket);
      send(socket, { type: 'connection_init' });
      await ack;
      send(socket, { type: 'connection_init' });
      expect(await closed).toBe(CloseCode.TooManyInitialisationRequests);
    });

    it('closes with 4409 when an operation id is already in use', async () => {
      const executionId = await heldRun('/gw-duplicate');
      const socket = await open();
      const closed = closeCode(socket);
      const ack = acknowledged(socket);
      send(socket, { type: 'connection_init', payload: { authorization: `Bearer ${session.token}` } });
      await ack;
      const subscribe = { id: 'same', type: 'subscribe', payload: { query: EXECUTION_UPDATED, variables: { id: executionId } } };
      send(socket, subscribe);
      send(socket, subscribe);
      expect(await closed).toBe(CloseCode.SubscriberAlreadyExists);
      outside.release('/gw-duplicate');
    });

    it('closes with 4408 when no connection_init arrives in time', async () => {
      const impatient = await stack.startGateway({ WS_CONNECTION_INIT_TIMEOUT_MS: '100' });
      const socket = await new Promise<WebSocket>((resolve, reject) => {
        const s = new WebSocket(impatient.graphqlUrl.replace('http://', 'ws://'), 'graphql-transport-ws');
        s.once('open', () => resolve(s));
        s.once('error', reject);
      });
      expect(await closeCode(socket)).toBe(CloseCode.ConnectionInitialisationTimeout);
    });
  });
});
