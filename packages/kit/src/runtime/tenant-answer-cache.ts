import { hostname } from 'node:os';
import type { EventBus } from '../messaging/event-bus.ts';
import type { Identity } from '../platform/identity.ts';
import type { Logger } from '../platform/logger.ts';

type UserIdentity = Extract<Identity, { kind: 'user' }>;

export interface TenantAnswerCacheOptions<T> {
  /** Asks the service that knows, e.g. a typed operation to another subgraph as the caller. */
  ask: (identity: UserIdentity) => Promise<T>;
  /** What holds while that service cannot be asked: it must not stop every tenant's work. */
  whenUnavailable: () => T;
  /** Says what was asked in the warning logged when the service could not be. */
  description: string;
  logger: Logger;
  now: () => number;
  /** How long an answer is trusted before it is asked again. @default 60000 */
  ttlMs?: number;
  /** How long `whenUnavailable` stands after the service could not be asked. @default 10000 */
  unavailableTtlMs?: number;
}

/**
 * Another service's answer about a tenant, asked once per tenant and `ttlMs` and forgotten as soon as an event says it
 * changed (`listen`), so that a check on a hot path (a run, an invitation) costs a map lookup. The cached value is
 * the caller's to amend, e.g. to add what it did since the answer came.
 */
export class TenantAnswerCache<T> {
  private readonly known = new Map<string, { value: T; expiresAt: number }>();
  private readonly ttlMs: number;
  private readonly unavailableTtlMs: number;

  constructor(private readonly options: TenantAnswerCacheOptions<T>) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.unavailableTtlMs = options.unavailableTtlMs ?? 10_000;
  }

  async get(identity: UserIdentity): Promise<T> {
    const now = this.options.now();
    const cached = this.known.get(identity.tenantId);
    if (cached && cached.expiresAt > now) return cached.value;
    let fresh: { value: T; expiresAt: number };
    try {
      fresh = { value: await this.options.ask(identity), expiresAt: now + this.ttlMs };
    } catch (error) {
      this.options.logger.warn({ err: error }, `could not ask for ${this.options.description}; the default holds meanwhile`);
      fresh = { value: this.options.whenUnavailable(), expiresAt: now + this.unavailableTtlMs };
    }
    this.known.set(identity.tenantId, fresh);
    return fresh.value;
  }

  /** The answer held for the tenant, if any, however old. */
  peek(tenantId: string): T | undefined {
    return this.known.get(tenantId)?.value;
  }

  forget(tenantId: string): void {
    this.known.delete(tenantId);
  }

  /**
   * Forgets a tenant's answer on each event of `bindings` about it. Every instance needs every such event, so `queue`
   * is the instance's own (see {@link instanceQueue}).
   */
  listen(eventBus: EventBus, queue: string, bindings: string[]): Promise<{ stop(): Promise<void> }> {
    return eventBus.subscribe({ queue, bindings }, async (event) => {
      if (event.tenantId) this.forget(event.tenantId);
    });
  }
}

/**
 * A queue name of this instance: its host and port, stable across restarts so that its queue is reused rather than
 * left behind; a random suffix when the port is chosen by the system (tests), as no two processes share one then.
 */
export function instanceQueue(base: string, port: number): string {
  return port === 0 ? `${base}.${crypto.randomUUID()}` : `${base}.${hostname()}:${port}`;
}
