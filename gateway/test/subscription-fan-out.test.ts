import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createAsyncQueue, Role, serveSubscriptions, signAccessToken, type AsyncQueue, type Identity } from '@nexusflow/kit';
import { createDeferred, createTempDirectory, recordingLogger } from '@nexusflow/kit/testing';
import { composeSupergraph, SchemaRegistry, type SubgraphSource } from '@nexusflow/schema-registry';
import { serveSubgraph } from '../../bench/gateway/fixture/server.ts';
import { loadGatewayConfig } from '../src/config.ts';
import { startGateway, type GatewayRuntimeOptions, type RunningGateway } from '../src/gateway.ts';
import type { SupergraphUpdate } from '../src/supergraph-source.ts';

const INTERNAL_SECRET = 'subscription-fan-out-internal-secret-32ch';
const JWT_SECRET = 'subscription-fan-out-jwt-secret-of-32-chars';

const SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query { ok: Boolean }
  type Tick { value: Int! label: String! viewer: String }
  type Subscription { ticks: Tick! }`;

const TICKS = 'subscription { ticks { value label viewer } }';

/** The clock once its ticks are entities whose labels another subgraph resolves. */
const CLOCK_WITH_KEY_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query { ok: Boolean }
  type Tick @key(fields: "value") { value: Int! viewer: String }
  type Subscription { ticks: Tick! }`;
const LABELS_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Tick @key(fields: "value") { value: Int! label: String! }`;

interface TickEvent {
  ticks: { value: number; label: string };
}

/** What the subgraph received: one upstream subscription, and who it was for. */
interface Upstream {
  viewer: string | undefined;
  events: AsyncQueue<TickEvent>;
}

interface Message {
  id?: string;
  type: string;
  payload?: { data?: { ticks: { value: number; label: string; viewer: string | null } }; errors?: unknown[] };
}

/** A client speaking graphql-transport-ws over a raw WebSocket, so that the test sees every message byte for byte. */
class RawClient {
  readonly frames: string[] = [];
  private readonly arrivals = createAsyncQueue<string>({ limit: 100_000 });
  readonly closed = createDeferred<number>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = String(data);
      this.frames.push(frame);
      this.arrivals.push(frame);
    });
    socket.on('close', (code) => this.closed.resolve(code));
  }

  static async connect(url: string, token?: string): Promise<RawClient> {
    const socket = new WebSocket(url, 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    client.send({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} });
    expect((await client.next()).type).toBe('connection_ack');
    return client;
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  subscribe(id: string, query = TICKS): void {
    this.send({ id, type: 'subscribe', payload: { query } });
  }

  async nextFrame(): Promise<string> {
    const next = await this.arrivals.next();
    if (next.done) throw new Error('no more messages');
    return next.value;
  }

  async next(): Promise<Message> {
    return JSON.parse(await this.nextFrame()) as Message;
  }

  /** The next `count` messages. */
  async take(count: number): Promise<Message[]> {
    const messages: Message[] = [];
    while (messages.length < count) messages.push(await this.next());
    return messages;
  }

  close(): void {
    this.socket.terminate();
    this.arrivals.end();
  }
}

/**
 * Fan-out of one subgraph subscription to many clients through the gateway: identical subscriptions share one upstream
 * subscription and one serialised message per event, per identity, written to each socket in batches.
 */
describe('subscription fan-out', () => {
  let server: Server;
  let subgraph: { close(): Promise<void> };
  let subgraphUrl: string;
  let upstreams: AsyncQueue<Upstream>;
  let scratch: Awaited<ReturnType<typeof createTempDirectory>>;
  let gateway: RunningGateway;
  const clients: RawClient[] = [];

  const wsUrl = () => gateway.graphqlUrl.replace(/^http/, 'ws');
  const connect = async (token?: string) => {
    const client = await RawClient.connect(wsUrl(), token);
    clients.push(client);
    return client;
  };
  const nextUpstream = async () => {
    const next = await upstreams.next();
    if (next.done) throw new Error('the subgraph stopped');
    return next.value;
  };
  const tenantId = randomUUID();
  /** A fresh access token of `userId`, a member of one tenant unless said otherwise. */
  const tokenOf = async (userId: string, of: { tenantId?: string; roles?: Role[] } = {}) =>
    (await signAccessToken({ userId, tenantId: of.tenantId ?? tenantId, roles: of.roles ?? [Role.Member] }, JWT_SECRET, 600)).token;
  const metric = async (name: string) => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text)?.[1]);
  };

  let registry: SchemaRegistry;
  const publish = async (subgraphs: SubgraphSource[]) =>
    registry.publish({ subgraphs, supergraphSdl: composeSupergraph(subgraphs), changes: [] });
  const startGatewayWith = async (env: Record<string, string> = {}, runtime: GatewayRuntimeOptions = {}, subgraphs?: SubgraphSource[]) => {
    registry = new SchemaRegistry(join(scratch.path, `registry-${randomUUID()}`));
    await publish(subgraphs ?? [{ name: 'clock', url: subgraphUrl, sdl: SDL }]);
    return startGateway(
      loadGatewayConfig({
        PORT: '0',
        LOG_LEVEL: 'silent',
        INTERNAL_SECRET,
        JWT_SECRET,
        SUPERGRAPH_PATH: registry.publishedSupergraphPath,
        ...env,
      }),
      runtime,
    );
  };

  beforeAll(async () => {
    /** The user the subgraph's signed identity names, if any. */
    const viewerOf = (context: unknown) => {
      const { identity } = context as { identity: Identity };
      return identity.kind === 'user' ? identity.userId : null;
    };
    // The subgraph answers each subscription with what the test pushes, and says whom it was for in `viewer`.
    const schema = buildSubgraphSchema({
      typeDefs: parse(SDL),
      resolvers: {
        Subscription: {
          ticks: {
            subscribe: (_parent: unknown, _args: unknown, context: unknown) => {
              const events = createAsyncQueue<TickEvent>({ limit: 100_000 });
              upstreams.push({ viewer: viewerOf(context) ?? undefined, events });
              return events;
            },
          },
        },
        Tick: { viewer: (_tick: unknown, _args: unknown, context: unknown) => viewerOf(context) },
      },
    });
    server = createServer((_request, response) => response.writeHead(404).end());
    subgraph = serveSubscriptions({
      server,
      schema,
      internalSecret: INTERNAL_SECRET,
      context: (identity) => ({ identity }),
      logger: recordingLogger().logger,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    subgraphUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });

  beforeEach(async () => {
    upstreams = createAsyncQueue({ limit: 100_000 });
    scratch = await createTempDirectory('subscription-fan-out');
    gateway = await startGatewayWith();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await gateway?.close();
    await scratch?.remove();
  });

  afterAll(async () => {
    await subgraph?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('refuses subscribes past MAX_SUBSCRIPTIONS_PER_CONNECTION, even when they arrive in one burst', async () => {
    await gateway.close();
    gateway = await startGatewayWith({ MAX_SUBSCRIPTIONS_PER_CONNECTION: '2' });
    const client = await connect();

    for (const id of ['1', '2', '3']) client.subscribe(id);

    expect(await client.next()).toEqual({
      id: '3',
      type: 'error',
      payload: [{ message: 'At most 2 operations at once on one connection', extensions: { code: 'RATE_LIMITED' } }],
    });
    (await nextUpstream()).events.push({ ticks: { value: 1, label: 'one' } });
    expect((await client.take(2)).map((message) => [message.id, message.payload?.data?.ticks.value])).toEqual([
      ['1', 1],
      ['2', 1],
    ]);
  });

  it('refuses an operation id still in use, which graphql-ws forgets on complete before the operation is ready', async () => {
    await gateway.close();
    gateway = await startGatewayWith({ MAX_SUBSCRIPTIONS_PER_CONNECTION: '2' });
    const client = await connect();

    client.subscribe('1');
    client.send({ id: '1', type: 'complete' });
    client.subscribe('1');

    expect(await client.next()).toEqual({
      id: '1',
      type: 'error',
      payload: [{ message: 'Operation id "1" is still in use on this connection', extensions: { code: 'BAD_REQUEST' } }],
    });
    await vi.waitFor(async () => expect(await metric('gateway_upstream_subscriptions')).toBe(0), { timeout: 5000 });
  });

  it('sends identical subscriptions the identical message, differing only by id, exactly as graphql-ws serialises it', async () => {
    const one = await connect();
    const other = await connect();
    one.subscribe('a');
    one.subscribe('b');
    const upstream = await nextUpstream();
    other.subscribe('c');
    expect(await metric('gateway_upstream_subscriptions')).toBe(1);

    upstream.events.push({ ticks: { value: 7, label: 'seven' } });
    const frames = [await one.nextFrame(), await one.nextFrame(), await other.nextFrame()];

    const payload = { data: { ticks: { value: 7, label: 'seven', viewer: null } } };
    expect(frames.sort()).toEqual(['a', 'b', 'c'].map((id) => JSON.stringify({ id, type: 'next', payload })));
  });

  it('frames messages of every length WebSocket tells apart (7-bit, 16-bit and 64-bit) so that a client reads each whole', async () => {
    const client = await connect();
    for (const id of ['p', 'q']) client.subscribe(id);
    const upstream = await nextUpstream();
    // Around each boundary of the frame header's length field: 125 / 126 bytes and 65,535 / 65,536 bytes of message.
    const messageLengthOf = (label: string) =>
      JSON.stringify({ id: 'p', type: 'next', payload: { data: { ticks: { value: 1, label, viewer: null } } } }).length;
    const overhead = messageLengthOf('');
    const labels = [
      '',
      'a'.repeat(125 - overhead),
      'b'.repeat(126 - overhead),
      'c'.repeat(65_535 - overhead),
      'd'.repeat(65_536 - overhead),
    ];
    for (const [value, label] of labels.entries()) upstream.events.push({ ticks: { value, label } });

    const received = await client.take(2 * labels.length);
    expect(received.map((message) => [message.id, message.payload?.data?.ticks.label.length])).toEqual(
      labels.flatMap((label) => [
        ['p', label.length],
        ['q', label.length],
      ]),
    );
    // After connection_ack and the two messages of the empty label.
    expect(client.frames.slice(3, 11).map((frame) => frame.length)).toEqual([125, 125, 126, 126, 65_535, 65_535, 65_536, 65_536]);
  });

  it("gives each user the results resolved for that user alone, never another's", async () => {
    const alice = randomUUID();
    const bob = randomUUID();
    const aliceClients = [await connect(await tokenOf(alice)), await connect(await tokenOf(alice))];
    const bobClient = await connect(await tokenOf(bob));
    aliceClients[0]!.subscribe('1');
    const first = await nextUpstream();
    aliceClients[1]!.subscribe('1');
    bobClient.subscribe('1');
    const second = await nextUpstream();
    // One upstream subscription per user: Alice's two subscriptions share hers.
    expect([first.viewer, second.viewer]).toEqual([alice, bob]);
    expect(await metric('gateway_upstream_subscriptions')).toBe(2);

    first.events.push({ ticks: { value: 1, label: 'for alice' } });
    second.events.push({ ticks: { value: 1, label: 'for bob' } });

    for (const client of aliceClients) {
      expect((await client.next()).payload?.data?.ticks).toEqual({ value: 1, label: 'for alice', viewer: alice });
    }
    expect((await bobClient.next()).payload?.data?.ticks).toEqual({ value: 1, label: 'for bob', viewer: bob });
    // Nothing else arrived: no user got the other's event.
    expect([...aliceClients, bobClient].map((client) => client.frames.length)).toEqual([2, 2, 2]);
  });

  it('delivers a burst of events to every subscription of a connection in order, none lost, none repeated', async () => {
    const crowded = await connect();
    const alone = await connect();
    for (const id of ['x', 'y', 'z']) crowded.subscribe(id);
    const upstream = await nextUpstream();
    alone.subscribe('w');

    const count = 500;
    for (let value = 1; value <= count; value++) upstream.events.push({ ticks: { value, label: `tick ${value}` } });

    const received = await crowded.take(3 * count);
    for (const id of ['x', 'y', 'z']) {
      expect(received.filter((message) => message.id === id).map((message) => message.payload?.data?.ticks.value)).toEqual(
        Array.from({ length: count }, (_, index) => index + 1),
      );
    }
    expect((await alone.take(count)).map((message) => message.payload?.data?.ticks.value)).toEqual(
      Array.from({ length: count }, (_, index) => index + 1),
    );
  });

  it('sends complete after the last event when the upstream subscription ends, and stops it when the last client leaves', async () => {
    const client = await connect();
    client.subscribe('done');
    const upstream = await nextUpstream();
    upstream.events.push({ ticks: { value: 1, label: 'last' } });
    upstream.events.end();
    expect(await client.take(2)).toEqual([
      { id: 'done', type: 'next', payload: { data: { ticks: { value: 1, label: 'last', viewer: null } } } },
      { id: 'done', type: 'complete' },
    ]);

    const leaving = await connect();
    leaving.subscribe('bye');
    const next = await nextUpstream();
    leaving.send({ id: 'bye', type: 'complete' });
    expect(await next.events.next()).toEqual({ done: true, value: undefined });
  });

  it('drops a connection that stops reading once too much waits for it, while the others go on receiving every event', async () => {
    await gateway.close();
    gateway = await startGatewayWith({ WS_MAX_BUFFERED_BYTES: String(64 * 1024) });
    const stalled = await connect();
    const reading = await connect();
    stalled.subscribe('s');
    const upstream = await nextUpstream();
    reading.subscribe('r');
    // The stalled client reads nothing more: what the gateway sends it piles up in the kernel's buffers, then the gateway's.
    stalled.socket.pause();

    const label = 'x'.repeat(16 * 1024);
    let value = 0;
    // Bounded: loopback buffers hold a few megabytes, far less than this.
    while (value < 4000 && (await metric('gateway_websocket_connections')) > 1) {
      upstream.events.push({ ticks: { value: ++value, label } });
      expect((await reading.next()).payload?.data?.ticks.value).toBe(value);
    }
    expect(await metric('gateway_websocket_connections')).toBe(1);
    // Dropped, not closed with a close frame, which would wait behind the megabytes the client never read.
    stalled.socket.resume();
    expect(await stalled.closed.promise).toBe(1006);

    upstream.events.push({ ticks: { value: ++value, label: 'after' } });
    expect((await reading.next()).payload?.data?.ticks).toEqual({ value, label: 'after', viewer: null });
  });

  it("drops a connection that stops reading once too much of its queries' results waits for it, as for events", async () => {
    await gateway.close();
    gateway = await startGatewayWith({ WS_MAX_BUFFERED_BYTES: String(64 * 1024), RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000' });
    const stalled = await connect();
    stalled.socket.pause();

    const introspection = '{ __schema { types { name description fields { name description args { name } } } } }';
    let sent = 0;
    // Bounded: loopback buffers hold a few megabytes, and each answer is kilobytes.
    while (sent < 4000 && (await metric('gateway_websocket_connections')) > 0)
      for (const last = sent + 50; sent < last; sent++) stalled.subscribe(`q${sent}`, introspection);

    expect(await metric('gateway_websocket_connections')).toBe(0);
    stalled.socket.resume();
    expect(await stalled.closed.promise).toBe(1006);
  });

  it('frees the connection slot of a client that leaves while its connection is being accepted', async () => {
    await gateway.close();
    gateway = await startGatewayWith({ MAX_CONNECTIONS_PER_TENANT: '2' });
    const token = await tokenOf('hasty');

    for (let attempt = 0; attempt < 20; attempt++) {
      const socket = new WebSocket(wsUrl(), 'graphql-transport-ws');
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      // Gone before the gateway has checked the token and taken a slot for the connection.
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
      socket.terminate();
    }

    await vi.waitFor(async () => expect(await metric('gateway_websocket_connections')).toBe(0), { timeout: 5000 });
    const [first, second] = [await connect(token), await connect(token)];
    first.subscribe('1');
    second.subscribe('2');
    (await nextUpstream()).events.push({ ticks: { value: 1, label: 'one' } });
    expect((await first.next()).payload?.data?.ticks.value).toBe(1);
  });

  describe('across users, for subgraphs declared to answer alike users alike', () => {
    let labels: Server;
    let labelsUrl: string;
    /** The clock whose ticks are entities, their labels from a subgraph of their own. */
    const clockAndLabels = (): SubgraphSource[] => [
      { name: 'clock', url: subgraphUrl, sdl: CLOCK_WITH_KEY_SDL },
      { name: 'labels', url: labelsUrl, sdl: LABELS_SDL },
    ];
    const sharingClock = (subgraphs?: SubgraphSource[]) =>
      startGatewayWith({ SUBSCRIPTIONS_SHARED_ACROSS_USERS: 'clock', SUPERGRAPH_POLL_INTERVAL_MS: '25' }, {}, subgraphs);

    beforeAll(async () => {
      labels = serveSubgraph(
        buildSubgraphSchema({
          typeDefs: parse(LABELS_SDL),
          resolvers: { Tick: { __resolveReference: ({ value }: { value: number }) => ({ value, label: `label ${value}` }) } },
        }),
      );
      await new Promise<void>((resolve) => labels.listen(0, '127.0.0.1', resolve));
      labelsUrl = `http://127.0.0.1:${(labels.address() as AddressInfo).port}/graphql`;
    });

    afterAll(async () => {
      labels?.closeAllConnections();
      await new Promise((resolve) => (labels ? labels.close(resolve) : resolve(undefined)));
    });

    /** The upstream subscriptions of `count` clients that have just subscribed, once the gateway holds that many. */
    const upstreamsOf = async (count: number) => {
      await vi.waitFor(async () => expect(await metric('gateway_upstream_subscriptions')).toBe(count), { timeout: 5000 });
      const received: Upstream[] = [];
      while (received.length < count) received.push(await nextUpstream());
      return received;
    };

    it('shares one upstream subscription among the users of a tenant with the same roles in any order, beyond its first', async () => {
      await gateway.close();
      gateway = await sharingClock();
      const [alice, bob] = [randomUUID(), randomUUID()];
      const aliceClient = await connect(await tokenOf(alice, { roles: [Role.Member, Role.Admin] }));
      const bobClient = await connect(await tokenOf(bob, { roles: [Role.Admin, Role.Member] }));
      aliceClient.subscribe('1');
      const [upstream] = await upstreamsOf(1);
      bobClient.subscribe('1');
      const bobSubscribed = bobClient.nextFrame();
      upstream!.events.push({ ticks: { value: 1, label: 'for the tenant' } });

      // The group runs as its first subscriber: by the declaration, that makes no difference to anyone's answer.
      const expected = { value: 1, label: 'for the tenant', viewer: alice };
      expect((await aliceClient.next()).payload?.data?.ticks).toEqual(expected);
      expect((JSON.parse(await bobSubscribed) as Message).payload?.data?.ticks).toEqual(expected);
      expect(await metric('gateway_upstream_subscriptions')).toBe(1);

      // Its first subscriber gone, the others keep the same upstream subscription.
      aliceClient.close();
      await vi.waitFor(async () => expect(await metric('gateway_websocket_connections')).toBe(1));
      upstream!.events.push({ ticks: { value: 2, label: 'still shared' } });
      expect((await bobClient.next()).payload?.data?.ticks).toEqual({ value: 2, label: 'still shared', viewer: alice });
      expect(await metric('gateway_upstream_subscriptions')).toBe(1);
    });

    it('keeps apart users of another tenant, with other roles, and anonymous clients', async () => {
      await gateway.close();
      gateway = await sharingClock();
      const tokens = [
        await tokenOf(randomUUID()),
        await tokenOf(randomUUID(), { tenantId: randomUUID() }),
        await tokenOf(randomUUID(), { roles: [Role.Admin] }),
        undefined,
      ];
      for (const token of tokens) (await connect(token)).subscribe('1');
      const viewers = (await upstreamsOf(4)).map((upstream) => upstream.viewer);
      expect(new Set(viewers).size).toBe(4);
    });

    it('keeps a subscription per user while its plan also reads a subgraph not declared', async () => {
      await gateway.close();
      gateway = await sharingClock(clockAndLabels());
      const [alice, bob] = [randomUUID(), randomUUID()];
      const clients = [await connect(await tokenOf(alice)), await connect(await tokenOf(bob))];
      for (const client of clients) client.subscribe('1');
      const upstreams = await upstreamsOf(2);
      expect(new Set(upstreams.map((upstream) => upstream.viewer))).toEqual(new Set([alice, bob]));
      for (const upstream of upstreams) upstream.events.push({ ticks: { value: 3, label: 'ignored' } });
      for (const [index, client] of clients.entries()) {
        expect((await client.next()).payload?.data?.ticks).toEqual({ value: 3, label: 'label 3', viewer: [alice, bob][index] });
      }
    });

    it('ends a shared subscription, saying why, once a new supergraph has it read a subgraph not declared', async () => {
      await gateway.close();
      gateway = await sharingClock();
      const [alice, bob] = [randomUUID(), randomUUID()];
      const clients = [await connect(await tokenOf(alice)), await connect(await tokenOf(bob))];
      clients[0]!.subscribe('1');
      const [upstream] = await upstreamsOf(1);
      clients[1]!.subscribe('1');
      upstream!.events.push({ ticks: { value: 1, label: 'shared' } });
      for (const client of clients) expect((await client.next()).payload?.data?.ticks.label).toBe('shared');

      // The labels move to a subgraph of their own, which the gateway was not told answers alike users alike.
      const loaded = createDeferred<SupergraphUpdate>();
      const unsubscribe = gateway.onSupergraphUpdate((update) => {
        unsubscribe();
        loaded.resolve(update);
      });
      await publish(clockAndLabels());
      expect(await loaded.promise).toEqual({ outcome: 'loaded' });

      for (const client of clients) {
        expect(await client.take(2)).toEqual([
          {
            id: '1',
            type: 'next',
            payload: {
              errors: [
                expect.objectContaining({
                  message:
                    'This subscription is no longer valid after a schema update: it now reads a subgraph whose answers differ from user to user; subscribe again',
                  extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED' }),
                }),
              ],
            },
          },
          { id: '1', type: 'complete' },
        ]);
      }
      expect(await upstream!.events.next()).toEqual({ done: true, value: undefined });

      // Subscribed again, each user has a subscription of their own, labels included.
      for (const client of clients) client.subscribe('2');
      const own = await upstreamsOf(2);
      expect(new Set(own.map((each) => each.viewer))).toEqual(new Set([alice, bob]));
      for (const each of own) each.events.push({ ticks: { value: 2, label: 'ignored' } });
      for (const client of clients) expect((await client.next()).payload?.data?.ticks.label).toBe('label 2');
    });

    it('warns of declared names the supergraph has no subgraph of', async () => {
      await gateway.close();
      const { logger, warned, warnings } = recordingLogger();
      gateway = await startGatewayWith({ SUBSCRIPTIONS_SHARED_ACROSS_USERS: 'clock,clocks' }, { logger });
      await warned('SUBSCRIPTIONS_SHARED_ACROSS_USERS names subgraphs the supergraph does not have');
      expect(warnings.find((warning) => warning.message.startsWith('SUBSCRIPTIONS_SHARED_ACROSS_USERS'))?.fields).toEqual({
        subgraphs: ['clocks'],
        known: ['clock'],
      });
    });
  });
});
