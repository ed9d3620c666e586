import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createAsyncQueue, serveSubscriptions, type AsyncQueue } from '@nexusflow/kit';
import { createDeferred, createTempDirectory, recordingLogger } from '@nexusflow/kit/testing';
import { composeSupergraph, SchemaRegistry, type SubgraphSource } from '@nexusflow/schema-registry';
import { loadGatewayConfig } from '../src/config.ts';
import { startGateway, type RunningGateway } from '../src/gateway.ts';
import type { SupergraphUpdate } from '../src/supergraph-source.ts';

const INTERNAL_SECRET = 'subscriptions-across-reloads-secret-32ch';

const V1 = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query { ok: Boolean }
  type Tick { value: Int! label: String! part: Part }
  interface Part { s: String }
  type A implements Part { s: String }
  type B implements Part { s: String }
  type Subscription { ticks: Tick! }`;
/** A field added: every open subscription is still valid. */
const V2 = V1.replace('label: String!', 'label: String! doubled: Int!');
/** `value` removed: a subscription selecting it is no longer valid; one selecting `label` only still is. */
const V3 = V2.replace('value: Int! ', '');

/** `label` now for signed-in callers only: the anonymous subscribers of these tests may no longer read it. */
const V2_GUARDED = V2.replace('v2.3', 'v2.5')
  .replace('import: ["@key"]', 'import: ["@key", "@authenticated"]')
  .replace('label: String!', 'label: String! @authenticated');

/** `label` and `doubled` nullable: what authorization removes from a result is null, not the whole event. */
const V2_NULLABLE = V2_GUARDED.replace('label: String! @authenticated', 'label: String @authenticated').replace(
  'doubled: Int!',
  'doubled: Int',
);
/** Both for signed-in callers only; going back to V2_NULLABLE makes `doubled` public again. */
const V2_NULLABLE_GUARDED_MORE = V2_NULLABLE.replace('doubled: Int', 'doubled: Int @authenticated');
/** `label` costly: a subscription reading it is estimated above the gateway's MAX_COST of these tests. */
const V2_COSTLY = V2.replace('v2.3', 'v2.9')
  .replace('import: ["@key"]', 'import: ["@key", "@cost"]')
  .replace('label: String!', 'label: String! @cost(weight: 500)');

/** `A.s` for signed-in callers only, then `B.s` too: the same response key, on another type. */
const V2_A_GUARDED = V2.replace('v2.3', 'v2.5')
  .replace('import: ["@key"]', 'import: ["@key", "@authenticated"]')
  .replace('type A implements Part { s: String }', 'type A implements Part { s: String @authenticated }');
const V2_A_AND_B_GUARDED = V2_A_GUARDED.replace(
  'type B implements Part { s: String }',
  'type B implements Part { s: String @authenticated }',
);

type TickEvent = { ticks: { value: number; label: string; doubled: number; part?: { __typename: 'A' | 'B'; s: string } } };

describe('open subscriptions when the gateway loads a new supergraph', () => {
  let server: Server;
  let subgraph: { close(): Promise<void> };
  let subgraphUrl: string;
  /** One queue per subscription the subgraph received, in order, for the test to feed. */
  let received: AsyncQueue<AsyncQueue<TickEvent>>;
  let scratch: Awaited<ReturnType<typeof createTempDirectory>>;
  let registry: SchemaRegistry;
  let gateway: RunningGateway;
  let client: Client;

  const publish = async (sdl: string, url = subgraphUrl) => {
    const subgraphs: SubgraphSource[] = [{ name: 'clock', url, sdl }];
    await registry.publish({ subgraphs, supergraphSdl: composeSupergraph(subgraphs), changes: [] });
  };

  /** Publishes `sdl` and resolves once the running gateway has loaded it (or refused it). */
  const switchTo = async (sdl: string, url = subgraphUrl) => {
    const loaded = createDeferred<SupergraphUpdate>();
    const unsubscribe = gateway.onSupergraphUpdate((update) => {
      unsubscribe();
      loaded.resolve(update);
    });
    await publish(sdl, url);
    return loaded.promise;
  };

  const nextUpstream = async () => {
    const next = await received.next();
    if (next.done) throw new Error('the subgraph stopped');
    return next.value;
  };

  /** A subscription through the gateway, its results queued as they arrive, and a promise of how it ended. */
  const subscribe = (query: string) => {
    const results = createAsyncQueue<{ data?: unknown; errors?: readonly { message: string; extensions?: Record<string, unknown> }[] }>();
    const ended = createDeferred<'completed' | 'errored'>();
    client.subscribe(
      { query },
      {
        next: (result) => results.push(result as never),
        error: () => ended.resolve('errored'),
        complete: () => ended.resolve('completed'),
      },
    );
    const next = async () => {
      const result = await results.next();
      if (result.done) throw new Error('no more results');
      return result.value;
    };
    return { next, ended: ended.promise };
  };

  /** Serves the clock subgraph on a server of its own, its subscriptions queued in `received` too. */
  const serveClock = async () => {
    const clockServer = createServer((_request, response) => response.writeHead(404).end());
    const served = serveSubscriptions({
      server: clockServer,
      schema: clockSchema,
      internalSecret: INTERNAL_SECRET,
      context: () => ({}),
      logger: recordingLogger().logger,
    });
    await new Promise<void>((resolve) => clockServer.listen(0, '127.0.0.1', resolve));
    return {
      server: clockServer,
      served,
      url: `http://127.0.0.1:${(clockServer.address() as AddressInfo).port}/graphql`,
    };
  };
  let clockSchema: ReturnType<typeof buildSubgraphSchema>;

  const startGatewayWith = async (env: Record<string, string> = {}) =>
    startGateway(
      loadGatewayConfig({
        PORT: '0',
        LOG_LEVEL: 'silent',
        INTERNAL_SECRET,
        SUPERGRAPH_PATH: registry.publishedSupergraphPath,
        SUPERGRAPH_POLL_INTERVAL_MS: '25',
        MAX_COST: '100',
        ...env,
      }),
    );

  beforeAll(async () => {
    // The subgraph serves the widest schema; each published version shows clients part of it.
    clockSchema = buildSubgraphSchema({
      typeDefs: parse(V2),
      resolvers: {
        Part: { __resolveType: (part: { __typename: string }) => part.__typename },
        Subscription: {
          ticks: {
            subscribe: () => {
              const events = createAsyncQueue<TickEvent>();
              received.push(events);
              return events;
            },
          },
        },
      },
    });
    ({ server, served: subgraph, url: subgraphUrl } = await serveClock());
  });

  beforeEach(async () => {
    received = createAsyncQueue();
    scratch = await createTempDirectory('subscriptions-across-reloads');
    registry = new SchemaRegistry(join(scratch.path, 'registry'));
    await publish(V1);
    gateway = await startGatewayWith();
    client = createClient({ url: gateway.graphqlUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  });

  afterEach(async () => {
    await client?.dispose();
    await gateway?.close();
    await scratch?.remove();
  });

  afterAll(async () => {
    await subgraph?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('keeps a subscription still valid on the new supergraph, on the same upstream subscription, with no gap', async () => {
    const watching = subscribe('subscription { ticks { value label } }');
    const upstream = await nextUpstream();
    upstream.push({ ticks: { value: 1, label: 'one', doubled: 2 } });
    expect((await watching.next()).data).toEqual({ ticks: { value: 1, label: 'one' } });

    expect(await switchTo(V2)).toEqual({ outcome: 'loaded' });
    upstream.push({ ticks: { value: 2, label: 'two', doubled: 4 } });
    expect((await watching.next()).data).toEqual({ ticks: { value: 2, label: 'two' } });

    // A client of the new supergraph may select the new field, and shares nothing stale with the old subscriber.
    const newcomer = subscribe('subscription { ticks { doubled } }');
    const second = await nextUpstream();
    second.push({ ticks: { value: 3, label: 'three', doubled: 6 } });
    expect((await newcomer.next()).data).toEqual({ ticks: { doubled: 6 } });
  });

  it('plans again, once the planner has room, a subscription it turned away at a reload, rather than keep the old plan', async () => {
    // Room for one operation waiting to be planned: of two subscriptions planned again at once, the planner turns one away.
    await client.dispose();
    await gateway.close();
    gateway = await startGatewayWith({ PLANNER_MAX_QUEUE: '1' });
    client = createClient({ url: gateway.graphqlUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    const byValue = subscribe('subscription ByValue { ticks { value } }');
    const byValueUpstream = await nextUpstream();
    const byLabel = subscribe('subscription ByLabel { ticks { label } }');
    const byLabelUpstream = await nextUpstream();
    const moved = await serveClock();
    onTestFinished(async () => {
      await moved.served.close();
      moved.server.closeAllConnections();
      await new Promise<void>((resolve) => moved.server.close(() => resolve()));
    });

    // The subgraph moved: each subscription, planned again, subscribes at its new address and leaves the old one.
    expect(await switchTo(V1, moved.url)).toEqual({ outcome: 'loaded' });
    const atNewAddress = [await nextUpstream(), await nextUpstream()];
    expect(await byValueUpstream.next()).toEqual({ done: true, value: undefined });
    expect(await byLabelUpstream.next()).toEqual({ done: true, value: undefined });
    for (const upstream of atNewAddress) upstream.push({ ticks: { value: 7, label: 'seven', doubled: 14 } });
    expect((await byValue.next()).data).toEqual({ ticks: { value: 7 } });
    expect((await byLabel.next()).data).toEqual({ ticks: { label: 'seven' } });
  });

  it('ends only the subscriptions the new supergraph makes invalid, with GRAPHQL_VALIDATION_FAILED saying why', async () => {
    expect(await switchTo(V2)).toEqual({ outcome: 'loaded' });
    const byValue = subscribe('subscription ByValue { ticks { value } }');
    const byValueUpstream = await nextUpstream();
    const byLabel = subscribe('subscription ByLabel { ticks { label } }');
    const byLabelUpstream = await nextUpstream();
    byValueUpstream.push({ ticks: { value: 1, label: 'one', doubled: 2 } });
    byLabelUpstream.push({ ticks: { value: 1, label: 'one', doubled: 2 } });
    expect((await byValue.next()).data).toEqual({ ticks: { value: 1 } });
    expect((await byLabel.next()).data).toEqual({ ticks: { label: 'one' } });

    expect(await switchTo(V3)).toEqual({ outcome: 'loaded' });

    const refusal = await byValue.next();
    expect(refusal.errors?.map(({ message, extensions }) => ({ message, code: extensions?.code }))).toEqual([
      {
        message: 'This subscription is no longer valid after a schema update: Cannot query field "value" on type "Tick".',
        code: 'GRAPHQL_VALIDATION_FAILED',
      },
    ]);
    expect(await byValue.ended).toBe('completed');
    // Its upstream subscription is ended too, so the subgraph stops producing for nobody.
    expect(await byValueUpstream.next()).toEqual({ done: true, value: undefined });

    byLabelUpstream.push({ ticks: { value: 2, label: 'two', doubled: 4 } });
    expect((await byLabel.next()).data).toEqual({ ticks: { label: 'two' } });
  });

  it('ends the subscriptions the new authorization rules no longer let read what they select, and keeps the others', async () => {
    expect(await switchTo(V2)).toEqual({ outcome: 'loaded' });
    const byLabel = subscribe('subscription ByLabel { ticks { value label } }');
    const byLabelUpstream = await nextUpstream();
    const byValue = subscribe('subscription ByValue { ticks { value } }');
    const byValueUpstream = await nextUpstream();
    byLabelUpstream.push({ ticks: { value: 1, label: 'one', doubled: 2 } });
    byValueUpstream.push({ ticks: { value: 1, label: 'one', doubled: 2 } });
    expect((await byLabel.next()).data).toEqual({ ticks: { value: 1, label: 'one' } });
    expect((await byValue.next()).data).toEqual({ ticks: { value: 1 } });

    expect(await switchTo(V2_GUARDED)).toEqual({ outcome: 'loaded' });
    // An event right after the new supergraph is loaded is not resolved under the old rules any more.
    byLabelUpstream.push({ ticks: { value: 2, label: 'after the reload', doubled: 4 } });

    const refusal = await byLabel.next();
    expect(refusal.data).toBeUndefined();
    expect(refusal.errors?.map(({ message, extensions }) => ({ message: message.split(':')[0], code: extensions?.code }))).toEqual([
      { message: 'This subscription may no longer read what it selects after a schema update', code: 'UNAUTHENTICATED' },
    ]);
    expect(await byLabel.ended).toBe('completed');
    expect(await byLabelUpstream.next()).toEqual({ done: true, value: undefined });
    // Counted with the operations the gateway refuses, by code.
    const refused = (await gateway.metrics.registry.metrics())
      .split('\n')
      .find((line) => line.startsWith('gateway_operations_refused_total{code="UNAUTHENTICATED"'));
    expect(refused?.split(' ').at(-1)).toBe('1');

    byValueUpstream.push({ ticks: { value: 2, label: 'two', doubled: 4 } });
    expect((await byValue.next()).data).toEqual({ ticks: { value: 2 } });
  });

  it('keeps a subscription the new rules let read more, on what it was allowed before', async () => {
    expect(await switchTo(V2_NULLABLE_GUARDED_MORE)).toEqual({ outcome: 'loaded' });
    const watching = subscribe('subscription { ticks { value label doubled } }');
    const upstream = await nextUpstream();
    upstream.push({ ticks: { value: 1, label: 'one', doubled: 2 } });
    const before = await watching.next();
    expect(before.data).toEqual({ ticks: { value: 1, label: null, doubled: null } });
    expect(before.errors?.map(({ extensions }) => extensions?.code)).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED']);

    expect(await switchTo(V2_NULLABLE)).toEqual({ outcome: 'loaded' });
    upstream.push({ ticks: { value: 2, label: 'two', doubled: 4 } });
    const after = await watching.next();
    expect(after.data).toEqual({ ticks: { value: 2, label: null, doubled: null } });
    expect(after.errors).toEqual(before.errors);
  });

  it('ends the subscriptions the new costs put above the maximum, with COST_ESTIMATED_TOO_EXPENSIVE', async () => {
    expect(await switchTo(V2)).toEqual({ outcome: 'loaded' });
    const byLabel = subscribe('subscription ByLabel { ticks { label } }');
    const byLabelUpstream = await nextUpstream();
    const byValue = subscribe('subscription ByValue { ticks { value } }');
    const byValueUpstream = await nextUpstream();
    byLabelUpstream.push({ ticks: { value: 1, label: 'one', doubled: 2 } });
    expect((await byLabel.next()).data).toEqual({ ticks: { label: 'one' } });

    expect(await switchTo(V2_COSTLY)).toEqual({ outcome: 'loaded' });

    const refusal = await byLabel.next();
    expect(refusal.errors?.map(({ message, extensions }) => ({ message: message.split(':')[0], code: extensions?.code }))).toEqual([
      { message: 'This subscription costs more than the gateway allows after a schema update', code: 'COST_ESTIMATED_TOO_EXPENSIVE' },
    ]);
    expect(await byLabel.ended).toBe('completed');
    byValueUpstream.push({ ticks: { value: 2, label: 'two', doubled: 4 } });
    expect((await byValue.next()).data).toEqual({ ticks: { value: 2 } });
  });

  it('tells a field removed on another type behind the same response key from the one removed before', async () => {
    expect(await switchTo(V2_A_GUARDED)).toEqual({ outcome: 'loaded' });
    const watching = subscribe('subscription { ticks { value part { ... on A { s } ... on B { s } } } }');
    const upstream = await nextUpstream();
    upstream.push({ ticks: { value: 1, label: 'one', doubled: 2, part: { __typename: 'B', s: 'seen by all' } } });
    expect((await watching.next()).data).toEqual({ ticks: { value: 1, part: { s: 'seen by all' } } });

    expect(await switchTo(V2_A_AND_B_GUARDED)).toEqual({ outcome: 'loaded' });
    upstream.push({ ticks: { value: 2, label: 'two', doubled: 4, part: { __typename: 'B', s: 'for the signed-in only' } } });

    const refusal = await watching.next();
    expect(refusal.data).toBeUndefined();
    expect(refusal.errors?.map(({ message, extensions }) => ({ message, code: extensions?.code }))).toEqual([
      {
        message: 'This subscription may no longer read what it selects after a schema update: Authentication required to use A.s',
        code: 'UNAUTHENTICATED',
      },
      {
        message: 'This subscription may no longer read what it selects after a schema update: Authentication required to use B.s',
        code: 'UNAUTHENTICATED',
      },
    ]);
    expect(await watching.ended).toBe('completed');
  });
});
