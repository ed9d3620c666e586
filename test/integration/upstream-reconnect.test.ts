import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createAsyncQueue, type AsyncQueue } from '@nexusflow/kit';
import { postGraphQL, TcpProxy } from '@nexusflow/kit/testing';
import { RegisterDocument } from '@nexusflow/web-client';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import { RecordingServer } from '../support/recording-server.ts';
import { startHeldRun } from '../support/live-runs.ts';
import { startStack, type Stack } from '../support/stack.ts';

// Only fields of the workflows subgraph: every byte of this subscription crosses the proxy on the one upstream socket.
const EXECUTION_UPDATED = `subscription Live($id: ID!) {
  executionUpdated(id: $id) { event revision status }
}`;

type Update = { event: string; revision: number; status: string };

/** A client of the gateway, as a web app holds one: what it receives, and whether its socket ever closed. */
interface Watcher {
  updates: AsyncQueue<Update>;
  /** Close events of the client's socket to the gateway. */
  closes: unknown[];
  /** Times the client's socket to the gateway was acknowledged. */
  connections: number;
}

const sequence = (updates: Update[]) => updates.map((update) => [update.event, update.status]);

describe('a dropped WebSocket between the gateway and the workflows subgraph', () => {
  let stack: Stack;
  let outside: RecordingServer;
  let proxy: TcpProxy;
  let gateway: RunningGateway;
  let token: string;
  const clients: Client[] = [];

  const heldRun = (path: string) =>
    startHeldRun({ graphqlUrl: stack.gateway.graphqlUrl, token: token, outside, path, name: 'Across a drop' });

  /** Subscribes through the proxied gateway, with a client that never reconnects by itself: any close would show. */
  function watch(executionId: string): Watcher {
    const watcher: Watcher = { updates: createAsyncQueue<Update>(), closes: [], connections: 0 };
    const client = createClient({
      url: gateway.graphqlUrl.replace('http://', 'ws://'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => undefined,
      on: {
        connected: () => (watcher.connections += 1),
        closed: (event) => watcher.closes.push(event),
      },
    });
    clients.push(client);
    client.subscribe<{ executionUpdated: Update }>(
      { query: EXECUTION_UPDATED, variables: { id: executionId } },
      {
        next: ({ data, errors }) => {
          if (errors) watcher.updates.end(new Error(JSON.stringify(errors)));
          else if (data) watcher.updates.push(data.executionUpdated);
        },
        error: (error) => watcher.updates.end(new Error(`subscription failed: ${JSON.stringify(error)}`)),
        complete: () => watcher.updates.end(),
      },
    );
    return watcher;
  }

  async function next(watcher: Watcher): Promise<Update> {
    const result = await watcher.updates.next();
    if (result.done) throw new Error('the subscription ended');
    return result.value;
  }

  const metric = async (pattern: RegExp) => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    return Number(pattern.exec(text)?.[1]);
  };
  const upstreamSubscriptions = () => metric(/^gateway_upstream_subscriptions(?:\{[^}]*\})? (\d+)/m);
  const reconnects = () => metric(/^gateway_upstream_reconnects_total\{[^}]*subgraph="workflows"[^}]*\} (\d+)/m);

  beforeAll(async () => {
    outside = await new RecordingServer().start();
    stack = await startStack('embedded', 'upstream_reconnect');
    const registered = (
      await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
        variables: {
          input: {
            email: `reconnect-${randomUUID()}@example.com`,
            password: 'correct horse battery',
            name: 'Reconnect',
            tenantName: 'Reconnects',
          },
        },
      })
    ).data?.register;
    if (registered?.__typename !== 'AuthSession') throw new Error('registration failed');
    token = registered.accessToken;
    const workflows = new URL(stack.workflows.graphqlUrl);
    proxy = await TcpProxy.start({ host: workflows.hostname, port: Number(workflows.port) });
    // Small waits keep the test quick; the policy's bounds themselves are unit-tested in gateway/test.
    gateway = await stack.startGateway({
      SUBGRAPH_WORKFLOWS_URL: proxy.urlFor(stack.workflows.graphqlUrl),
      UPSTREAM_RECONNECT_BASE_DELAY_MS: '10',
      UPSTREAM_RECONNECT_MAX_DELAY_MS: '50',
    });
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await stack?.close();
    await proxy?.close();
    await outside?.close();
  });

  it('keeps the client connected, reconnects once, and streams what happens afterwards in order', async () => {
    const executionId = await heldRun('/reconnect-drop');
    const watcher = watch(executionId);
    const before = await next(watcher);
    expect(before).toMatchObject({ event: 'workflow.execution.snapshot', status: 'RUNNING' });
    expect(proxy.webSocketsAccepted).toBe(1);
    expect(await reconnects()).toBe(0);
    expect(await upstreamSubscriptions()).toBe(1);

    proxy.cut();

    // graphql-ws subscribes again on its new socket, and the subgraph answers first with the execution as it is.
    const caughtUp = await next(watcher);
    expect(caughtUp).toEqual(before);
    expect(proxy.webSocketsAccepted).toBe(2);
    expect(await reconnects()).toBe(1);
    expect(await upstreamSubscriptions()).toBe(1);

    outside.release('/reconnect-drop');
    const after = [await next(watcher), await next(watcher), await next(watcher)];
    expect(sequence(after)).toEqual([
      ['workflow.step.completed', 'RUNNING'],
      ['workflow.step.completed', 'RUNNING'],
      ['workflow.execution.completed', 'COMPLETED'],
    ]);
    const revisions = after.map((update) => update.revision);
    expect(revisions[0]).toBeGreaterThan(caughtUp.revision);
    expect(revisions).toEqual([...new Set(revisions)].sort((a, b) => a - b));

    expect(watcher.closes).toEqual([]);
    expect(watcher.connections).toBe(1);
    expect(await upstreamSubscriptions()).toBe(1);
  });

  it('keeps trying while the subgraph refuses connections, and counts one reconnection when it answers', async () => {
    const executionId = await heldRun('/reconnect-refused');
    const watcher = watch(executionId);
    expect(await next(watcher)).toMatchObject({ event: 'workflow.execution.snapshot', status: 'RUNNING' });
    const reconnectsBefore = await reconnects();
    const acceptedBefore = proxy.webSocketsAccepted;

    proxy.refuseNext(3);
    proxy.cut();

    expect(await next(watcher)).toMatchObject({ event: 'workflow.execution.snapshot', status: 'RUNNING' });
    expect(proxy.refused).toBe(3);
    expect(proxy.webSocketsAccepted).toBe(acceptedBefore + 1);
    expect(await reconnects()).toBe(reconnectsBefore + 1);

    outside.release('/reconnect-refused');
    const after = [await next(watcher), await next(watcher), await next(watcher)];
    expect(after.at(-1)).toMatchObject({ event: 'workflow.execution.completed', status: 'COMPLETED' });
    expect(watcher.closes).toEqual([]);
    expect(watcher.connections).toBe(1);
  });
});
