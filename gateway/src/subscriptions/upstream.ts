import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { Broadcast, signIdentity, type Identity, type Logger } from '@nexusflow/kit/core';

export interface UpstreamEvent {
  data?: Record<string, unknown> | null;
  errors?: readonly { message: string; path?: readonly (string | number)[]; extensions?: Record<string, unknown> }[];
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

/**
 * How a dropped subgraph connection is re-established: randomised exponential backoff with full jitter. Attempt `n`
 * (0 for the first after a drop) waits a uniformly random time in `[0, min(maxDelayMs, baseDelayMs × 2ⁿ))`.
 */
export interface ReconnectPolicy {
  /**
   * Upper bound of the wait before the first attempt after a drop; it doubles with every attempt that fails.
   *
   * @default 250
   */
  baseDelayMs: number;
  /**
   * Upper bound of the wait between two attempts, however long the subgraph stays away.
   *
   * @default 10_000
   */
  maxDelayMs: number;
}

export const DEFAULT_RECONNECT_POLICY: Readonly<ReconnectPolicy> = { baseDelayMs: 250, maxDelayMs: 10_000 };

/**
 * The wait before reconnection attempt `attempt` (graphql-ws's `retries`: 0 for the first after a drop).
 *
 * Full jitter rather than equal jitter: when a subgraph restarts, every gateway instance drops one socket per identity
 * with live subscriptions at the same moment, and spreading their attempts over the whole window (not only its upper
 * half) keeps them from arriving in waves (in AWS's comparison of backoff schemes it needs the fewest attempts). A wait
 * close to 0 costs one TCP connection attempt and lets a brief blip heal at once.
 */
export function reconnectDelayMs(attempt: number, policy: ReconnectPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

export interface UpstreamOptions {
  internalSecret: string;
  logger: Logger;
  /**
   * How a dropped subgraph connection is re-established. graphql-ws's own default (1 s × 2ⁿ plus 0.3–3 s) leaves
   * subscribers several seconds without events after a blip, and has no cap.
   *
   * @default DEFAULT_RECONNECT_POLICY
   */
  reconnect?: ReconnectPolicy;
  /** Called with the number of open upstream subscriptions whenever it changes. */
  onCount?: (open: number) => void;
  /** Called with the subgraph's URL each time a dropped connection to it is re-established. */
  onReconnect?: (url: string) => void;
}

/** Closed on purpose: by graphql-ws when its last subscription has gone, or by {@link UpstreamSubscriptions.dispose}. */
const NORMAL_CLOSURE = 1000;

function closeCodeOf(event: unknown): number | undefined {
  return typeof event === 'object' && event !== null && 'code' in event && typeof event.code === 'number' ? event.code : undefined;
}

/**
 * Subscriptions the gateway holds on subgraphs, over graphql-ws. A thousand clients watching one
 * execution cost one upstream subscription; it ends when its last client leaves. A dropped subgraph
 * connection is re-established with backoff ({@link ReconnectPolicy}); graphql-ws then subscribes
 * again on the new socket, so clients stay connected meanwhile and the subgraph's first event after
 * the reconnection (a snapshot, for executions) catches them up.
 */
export class UpstreamSubscriptions {
  /** Replays the latest event to clients that join later: events carry the whole state, so the latest is enough to catch up. */
  private readonly open = new Broadcast<UpstreamEvent>({ replayLatest: true });
  /** One socket per subgraph and identity while it carries subscriptions: a client is dropped with its last one. */
  private readonly clients = new Map<string, { client: Client; upstreams: number }>();
  /** Cuts backoff waits short on dispose, so that shutting down never waits for a subgraph that is away. */
  private readonly disposing = new AbortController();

  constructor(private readonly options: UpstreamOptions) {}

  get size(): number {
    return this.open.size;
  }

  /** Sockets kept, open or lazily closed: one per subgraph and identity with subscriptions. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** One socket per subgraph and identity; it carries all of that identity's upstream subscriptions. */
  private client(key: string, url: string, identity: Identity): Client {
    let entry = this.clients.get(key);
    if (!entry) {
      const policy = this.options.reconnect ?? DEFAULT_RECONNECT_POLICY;
      const logger = this.options.logger;
      let established = false;
      const client = createClient({
        url: url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        // Signed afresh for every (re)connection, so a long-lived subscription outlives the signature's validity window.
        connectionParams: () => signIdentity(identity, this.options.internalSecret),
        lazy: true,
        lazyCloseTimeout: 1000,
        retryAttempts: Number.POSITIVE_INFINITY,
        shouldRetry: () => true,
        retryWait: (retries) => this.wait(reconnectDelayMs(retries, policy)),
        keepAlive: 10_000,
        on: {
          connected: (_socket, _payload, wasRetry) => {
            established = true;
            if (!wasRetry) return;
            logger.info({ subgraph: url }, 'upstream connection re-established');
            this.options.onReconnect?.(url);
          },
          closed: (event) => {
            const wasEstablished = established;
            established = false;
            const code = closeCodeOf(event);
            if (code === NORMAL_CLOSURE) return;
            // One line per drop at warn; while the subgraph stays away, each failed attempt only at debug, so that an
            // outage does not flood the log with one line per identity every few seconds.
            if (wasEstablished) logger.warn({ subgraph: url, code }, 'upstream connection dropped; reconnecting');
            else logger.debug({ subgraph: url, code }, 'upstream connection attempt failed');
          },
        },
      });
      entry = { client, upstreams: 0 };
      this.clients.set(key, entry);
    }
    entry.upstreams += 1;
    return entry.client;
  }

  /** Forgets an identity's client once it carries nothing, so that the map does not grow with every identity ever seen. */
  private release(key: string): void {
    const entry = this.clients.get(key);
    if (!entry || --entry.upstreams > 0) return;
    this.clients.delete(key);
    // Nothing is subscribed on it any more: disposing only closes a socket that graphql-ws would close lazily anyway.
    Promise.resolve(entry.client.dispose()).catch((error: unknown) =>
      this.options.logger.debug({ err: error }, 'an idle upstream client did not close cleanly'),
    );
  }

  private wait(ms: number): Promise<void> {
    const signal = this.disposing.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  subscribe(key: UpstreamKey): AsyncIterableIterator<UpstreamEvent> {
    const clientKey = JSON.stringify([key.url, key.identity]);
    let stop: (() => void) | undefined;
    return this.open.subscribe(keyOf(key), {
      onFirst: (upstream) => {
        stop = this.client(clientKey, key.url, key.identity).subscribe<Record<string, unknown>>(
          { query: key.operation, variables: key.variables },
          {
            next: (event) => upstream.publish(event),
            error: (error) => {
              this.options.logger.warn({ err: error instanceof Error ? error.message : error }, 'upstream subscription failed');
              const errors = Array.isArray(error) ? (error as UpstreamEvent['errors']) : [{ message: 'The upstream subscription failed' }];
              upstream.publish({ errors });
              upstream.end();
            },
            complete: () => upstream.end(),
          },
        );
        this.options.onCount?.(this.open.size);
      },
      onLast: () => {
        stop?.();
        this.release(clientKey);
        this.options.onCount?.(this.open.size);
      },
    });
  }

  async dispose(): Promise<void> {
    this.open.endAll();
    this.disposing.abort();
    // A client caught between attempts rejects its dispose with the reason it gave up (the last close event, or
    // "All Subscriptions Gone"); there is nothing left to close then, and shutdown must go on.
    await Promise.allSettled([...this.clients.values()].map(async ({ client }) => client.dispose()));
    this.clients.clear();
  }
}
