import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { buildSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANONYMOUS,
  ConfigError,
  createAsyncQueue,
  Role,
  serveSubscriptions,
  type AsyncQueue,
  type Identity,
  type Logger,
} from '@nexusflow/kit';
import { createDeferred } from '@nexusflow/kit/testing';
import { loadGatewayConfig } from '../src/config.ts';
import { DEFAULT_RECONNECT_POLICY, reconnectDelayMs, UpstreamSubscriptions } from '../src/subscriptions/upstream.ts';

const SECRET = 'upstream-reconnect-test-secret-of-32-chars';

interface LogEntry {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A logger that keeps what it is told, and tells a test the moment a given message arrives. */
function recordingLogger() {
  const entries: LogEntry[] = [];
  const waiters: { msg: string; arrived: () => void }[] = [];
  const record = (level: string) => (fields: object | string, msg?: string) => {
    const entry = typeof fields === 'string' ? { level, msg: fields } : { ...fields, level, msg: msg ?? '' };
    entries.push(entry);
    for (const waiter of waiters.filter((candidate) => candidate.msg === entry.msg)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.arrived();
    }
  };
  const logger = {
    fatal: record('fatal'),
    error: record('error'),
    warn: record('warn'),
    info: record('info'),
    debug: record('debug'),
    trace: record('trace'),
  };
  return {
    logger: logger as unknown as Logger,
    entries,
    logged(msg: string): Promise<void> {
      if (entries.some((entry) => entry.msg === msg)) return Promise.resolve();
      const arrived = createDeferred();
      waiters.push({ msg, arrived: () => arrived.resolve() });
      return arrived.promise;
    },
  };
}

describe('the reconnection backoff', () => {
  const policy = { baseDelayMs: 250, maxDelayMs: 10_000 };
  const ceilingOf = (attempt: number) => Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);

  it('waits between 0 and the base delay doubled per attempt, capped', () => {
    for (let attempt = 0; attempt < 12; attempt += 1) {
      expect(
        reconnectDelayMs(attempt, policy, () => 0),
        `attempt ${attempt}`,
      ).toBe(0);
      expect(
        reconnectDelayMs(attempt, policy, () => 0.5),
        `attempt ${attempt}`,
      ).toBe(ceilingOf(attempt) / 2);
      expect(
        reconnectDelayMs(attempt, policy, () => 1 - Number.EPSILON),
        `attempt ${attempt}`,
      ).toBe(ceilingOf(attempt) - 1);
    }
  });

  it('lets the longest possible wait double from the base until the cap, then stay there', () => {
    const longest = Array.from({ length: 8 }, (_, attempt) => reconnectDelayMs(attempt, policy, () => 1 - Number.EPSILON) + 1);
    expect(longest).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it('never waits longer than the cap, however many attempts failed', () => {
    for (const attempt of [20, 64, 1100, 1_000_000]) {
      expect(
        reconnectDelayMs(attempt, policy, () => 1 - Number.EPSILON),
        `attempt ${attempt}`,
      ).toBe(policy.maxDelayMs - 1);
    }
  });

  it('stays within its bounds with real randomness', () => {
    for (let attempt = 0; attempt < 12; attempt += 1) {
      for (let sample = 0; sample < 500; sample += 1) {
        const delay = reconnectDelayMs(attempt, policy);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(ceilingOf(attempt));
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });
});

describe('the reconnection settings of the gateway', () => {
  it('default to a 250 ms base and a 10 s cap', () => {
    expect(loadGatewayConfig({}).upstreamReconnect).toEqual({ baseDelayMs: 250, maxDelayMs: 10_000 });
    expect(DEFAULT_RECONNECT_POLICY).toEqual({ baseDelayMs: 250, maxDelayMs: 10_000 });
  });

  it('are read from UPSTREAM_RECONNECT_BASE_DELAY_MS and UPSTREAM_RECONNECT_MAX_DELAY_MS', () => {
    const config = loadGatewayConfig({ UPSTREAM_RECONNECT_BASE_DELAY_MS: '100', UPSTREAM_RECONNECT_MAX_DELAY_MS: '30000' });
    expect(config.upstreamReconnect).toEqual({ baseDelayMs: 100, maxDelayMs: 30_000 });
  });

  it('refuse a cap below the base, and delays that are not positive integers', () => {
    expect(() => loadGatewayConfig({ UPSTREAM_RECONNECT_BASE_DELAY_MS: '5000', UPSTREAM_RECONNECT_MAX_DELAY_MS: '1000' })).toThrow(
      /UPSTREAM_RECONNECT_MAX_DELAY_MS: must be at least UPSTREAM_RECONNECT_BASE_DELAY_MS/,
    );
    expect(() => loadGatewayConfig({ UPSTREAM_RECONNECT_BASE_DELAY_MS: '0' })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ UPSTREAM_RECONNECT_MAX_DELAY_MS: '1.5' })).toThrow(ConfigError);
  });
});

describe('upstream subscriptions when the subgraph connection drops', () => {
  let server: Server;
  let subgraph: { close(): Promise<void> };
  let url: string;
  const sockets = new Set<Socket>();
  /** One queue per subscription the subgraph received, in order, for the test to feed. */
  const received = createAsyncQueue<AsyncQueue<{ ticks: number }>>();

  const nextSubscription = async () => {
    const result = await received.next();
    if (result.done) throw new Error('the subgraph stopped');
    return result.value;
  };

  beforeAll(async () => {
    const schema = buildSchema('type Query { ok: Boolean } type Subscription { ticks: Int! }');
    schema.getSubscriptionType()!.getFields().ticks!.subscribe = () => {
      const events = createAsyncQueue<{ ticks: number }>();
      received.push(events);
      return events;
    };
    server = createServer();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    subgraph = serveSubscriptions({ server, schema, internalSecret: SECRET, context: () => ({}), logger: recordingLogger().logger });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });

  afterAll(async () => {
    await subgraph?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('logs the drop at warn, reports one reconnection, and keeps feeding the same subscriber', async () => {
    const log = recordingLogger();
    const reconnected: string[] = [];
    const upstreams = new UpstreamSubscriptions({
      internalSecret: SECRET,
      logger: log.logger,
      reconnect: { baseDelayMs: 10, maxDelayMs: 50 },
      onReconnect: (reconnectedUrl) => reconnected.push(reconnectedUrl),
    });
    const events = upstreams.subscribe({ url, operation: 'subscription { ticks }', variables: {}, identity: ANONYMOUS });

    const first = await nextSubscription();
    first.push({ ticks: 1 });
    expect((await events.next()).value).toEqual({ data: { ticks: 1 } });
    expect(reconnected).toEqual([]);

    for (const socket of sockets) socket.resetAndDestroy();

    // graphql-ws reports the reconnection before it subscribes again on the new socket.
    const second = await nextSubscription();
    expect(reconnected).toEqual([url]);
    second.push({ ticks: 2 });
    expect((await events.next()).value).toEqual({ data: { ticks: 2 } });
    expect(upstreams.size).toBe(1);
    expect(log.entries.filter((entry) => entry.level === 'warn')).toEqual([
      { level: 'warn', msg: 'upstream connection dropped; reconnecting', subgraph: url, code: 1006 },
    ]);
    expect(log.entries).toContainEqual({ level: 'info', msg: 'upstream connection re-established', subgraph: url });

    await events.return?.();
    expect(upstreams.size).toBe(0);
    await upstreams.dispose();
  });

  it('keeps one client per identity only while that identity has subscriptions', async () => {
    const upstreams = new UpstreamSubscriptions({ internalSecret: SECRET, logger: recordingLogger().logger });
    const identities: Identity[] = Array.from({ length: 3 }, (_, index) => ({
      kind: 'user',
      userId: `user-${index}`,
      tenantId: 'tenant-1',
      roles: [Role.Member],
    }));
    const streams = identities.map((identity) =>
      upstreams.subscribe({ url, operation: 'subscription { ticks }', variables: {}, identity }),
    );
    // A second subscription of the first identity, on that identity's socket.
    const shared = upstreams.subscribe({ url, operation: 'subscription Again { ticks }', variables: {}, identity: identities[0]! });
    for (let index = 0; index < 4; index++) await nextSubscription();
    expect(upstreams.clientCount).toBe(3);

    await streams[0]!.return?.();
    expect(upstreams.clientCount).toBe(3);
    await shared.return?.();
    await streams[1]!.return?.();
    expect(upstreams.clientCount).toBe(1);
    await streams[2]!.return?.();
    expect(upstreams.clientCount).toBe(0);
    await upstreams.dispose();
  });

  it('does not keep a client for every identity it ever served: one that carries nothing is disposed of at once', async () => {
    const upstreams = new UpstreamSubscriptions({ internalSecret: SECRET, logger: recordingLogger().logger });
    const staying = upstreams.subscribe({ url, operation: 'subscription { ticks }', variables: {}, identity: ANONYMOUS });
    (await nextSubscription()).push({ ticks: 0 });

    for (let index = 1; index <= 20; index++) {
      const identity: Identity = { kind: 'user', userId: `passing-${index}`, tenantId: 'tenant-1', roles: [Role.Member] };
      const passing = upstreams.subscribe({ url, operation: 'subscription { ticks }', variables: {}, identity });
      (await nextSubscription()).push({ ticks: index });
      expect((await passing.next()).value).toEqual({ data: { ticks: index } });
      expect(upstreams.clientCount).toBe(2);
      await passing.return?.();
      expect(upstreams.clientCount).toBe(1);
    }

    expect((await staying.next()).value).toEqual({ data: { ticks: 0 } });
    await staying.return?.();
    expect(upstreams.clientCount).toBe(0);
    await upstreams.dispose();
  });

  it('is disposed of at once while it waits to reconnect to a subgraph that is away', { timeout: 10_000 }, async () => {
    const away = createServer();
    await new Promise<void>((resolve) => away.listen(0, '127.0.0.1', resolve));
    const awayUrl = `http://127.0.0.1:${(away.address() as AddressInfo).port}/graphql`;
    await new Promise<void>((resolve) => away.close(() => resolve()));

    const log = recordingLogger();
    // Waits of up to ten minutes: only cutting the wait short lets dispose finish within this test's timeout.
    const upstreams = new UpstreamSubscriptions({
      internalSecret: SECRET,
      logger: log.logger,
      reconnect: { baseDelayMs: 600_000, maxDelayMs: 600_000 },
    });
    const events = upstreams.subscribe({ url: awayUrl, operation: 'subscription { ticks }', variables: {}, identity: ANONYMOUS });
    await log.logged('upstream connection attempt failed');
    // The retry is scheduled in promise callbacks after the close event: one turn of the event loop puts it in its wait.
    await new Promise((resolve) => setImmediate(resolve));

    await upstreams.dispose();
    expect(await events.next()).toEqual({ value: undefined, done: true });
    expect(log.entries.filter((entry) => entry.level === 'warn')).toEqual([]);
  });
});
