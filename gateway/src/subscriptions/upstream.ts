import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createAsyncQueue, signIdentity, type AsyncQueue, type Identity, type Logger } from '@nexusflow/kit';

export interface UpstreamEvent {
  data?: Record<string, unknown> | null;
  errors?: readonly { message: string; extensions?: Record<string, unknown> }[];
}

export interface UpstreamKey {
  url: string;
  operation: string;
  variables: Record<string, unknown>;
  identity: Identity;
}

/** Identical subscriptions (same subgraph, operation, variables and identity) share one upstream. */
function keyOf(key: UpstreamKey): string {
  return JSON.stringify([key.url, key.operation, key.variables, key.identity]);
}

interface Upstream {
  subscribers: Set<AsyncQueue<UpstreamEvent>>;
  /** Replayed to clients that join later: events carry the whole state, so the latest is enough to catch up. */
  last?: UpstreamEvent;
  stop(): void;
}

export interface UpstreamOptions {
  internalSecret: string;
  logger: Logger;
  /** Called with the number of open upstream subscriptions whenever it changes. */
  onCount?: (open: number) => void;
}

/**
 * Subscriptions the gateway holds on subgraphs, over graphql-ws. A thousand clients watching one
 * execution cost one upstream subscription; it ends when its last client leaves. A dropped subgraph
 * connection is re-established with backoff (graphql-ws retries with randomised exponential delays),
 * and its clients stay connected meanwhile.
 */
export class UpstreamSubscriptions {
  private readonly open = new Map<string, Upstream>();
  private readonly clients = new Map<string, Client>();

  constructor(private readonly options: UpstreamOptions) {}

  get size(): number {
    return this.open.size;
  }

  /** One socket per subgraph and identity; it carries all of that identity's upstream subscriptions. */
  private client(url: string, identity: Identity): Client {
    const key = JSON.stringify([url, identity]);
    let client = this.clients.get(key);
    if (!client) {
      client = createClient({
        url: url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        // Signed afresh for every (re)connection, so a long-lived subscription outlives the signature's validity window.
        connectionParams: () => signIdentity(identity, this.options.internalSecret),
        lazy: true,
        lazyCloseTimeout: 1000,
        retryAttempts: Number.POSITIVE_INFINITY,
        shouldRetry: () => true,
        keepAlive: 10_000,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  subscribe(key: UpstreamKey): AsyncIterableIterator<UpstreamEvent> {
    const id = keyOf(key);
    let upstream = this.open.get(id);
    if (!upstream) {
      const subscribers = new Set<AsyncQueue<UpstreamEvent>>();
      const shared: Partial<Upstream> = {};
      const unsubscribe = this.client(key.url, key.identity).subscribe<Record<string, unknown>>(
        { query: key.operation, variables: key.variables },
        {
          next: (event) => {
            shared.last = event as UpstreamEvent;
            for (const subscriber of subscribers) subscriber.push(event as UpstreamEvent);
          },
          error: (error) => {
            this.options.logger.warn({ err: error instanceof Error ? error.message : error }, 'upstream subscription failed');
            const errors = Array.isArray(error) ? (error as UpstreamEvent['errors']) : [{ message: 'The upstream subscription failed' }];
            for (const subscriber of subscribers) {
              subscriber.push({ errors });
              subscriber.end();
            }
            this.close(id);
          },
          complete: () => {
            for (const subscriber of subscribers) subscriber.end();
            this.close(id);
          },
        },
      );
      upstream = Object.assign(shared, { subscribers, stop: unsubscribe }) as Upstream;
      this.open.set(id, upstream);
      this.options.onCount?.(this.open.size);
    }
    const queue: AsyncQueue<UpstreamEvent> = createAsyncQueue({
      onReturn: () => {
        const current = this.open.get(id);
        if (!current) return;
        current.subscribers.delete(queue);
        if (current.subscribers.size === 0) this.close(id);
      },
    });
    upstream.subscribers.add(queue);
    if (upstream.last) queue.push(upstream.last);
    return queue;
  }

  private close(id: string): void {
    const upstream = this.open.get(id);
    if (!upstream) return;
    this.open.delete(id);
    upstream.stop();
    this.options.onCount?.(this.open.size);
  }

  async dispose(): Promise<void> {
    for (const id of [...this.open.keys()]) this.close(id);
    await Promise.all([...this.clients.values()].map((client) => client.dispose()));
    this.clients.clear();
  }
}
