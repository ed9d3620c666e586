import type { Identity, Logger } from '@nexusflow/kit/core';
import type { SessionRevocationCheck } from '../session-revocation.ts';
import type { StreamingCaller } from './operations.ts';

/** Why a long-lived connection is refused or ended, beyond each protocol's own reasons. */
export enum StreamRefusal {
  TokenExpired = 'Access token has expired',
  TooManyTenantConnections = 'Too many connections for this tenant',
  TooManyAnonymousConnections = 'Too many anonymous connections from this address',
}

export interface ConnectionLimitsOptions {
  /** Connections one tenant may hold open on this gateway instance. */
  maxPerTenant: number;
  /** Anonymous connections one client address may hold open. */
  maxAnonymousPerAddress: number;
  /** Called with the number of connections held, after every change. */
  onCount?: (open: number) => void;
}

/**
 * The caps on long-lived connections (WebSocket connections, Server-Sent Event and multipart streams), counted
 * together: a client cannot get around the WebSocket cap by opening event streams instead.
 */
export class ConnectionLimits {
  private readonly perTenant = new Map<string, number>();
  private readonly anonymousPerAddress = new Map<string, number>();
  private open = 0;

  constructor(private readonly options: ConnectionLimitsOptions) {}

  /** A slot for one connection of `caller`, to release when it ends; the refusal when the caller is at its cap. */
  acquire(caller: StreamingCaller): { release: () => void } | { refused: StreamRefusal } {
    const [counts, key, max, refusal] =
      caller.identity.kind === 'user'
        ? [this.perTenant, caller.identity.tenantId, this.options.maxPerTenant, StreamRefusal.TooManyTenantConnections]
        : [this.anonymousPerAddress, caller.clientAddress, this.options.maxAnonymousPerAddress, StreamRefusal.TooManyAnonymousConnections];
    if ((counts.get(key) ?? 0) >= max) return { refused: refusal };
    counts.set(key, (counts.get(key) ?? 0) + 1);
    this.options.onCount?.(++this.open);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = (counts.get(key) ?? 1) - 1;
        if (left > 0) counts.set(key, left);
        else counts.delete(key);
        this.options.onCount?.(--this.open);
      },
    };
  }
}

/** setTimeout's longest delay; a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `expired` when `expiresAt` (ms since the epoch, on the `now` clock) has passed; returns a cancel function. */
export function onExpiry(expiresAt: number, now: () => number, expired: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const remaining = expiresAt - now();
    if (remaining <= 0) {
      expired();
      return;
    }
    timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}

export interface RevocationWatch {
  isRevoked: SessionRevocationCheck | undefined;
  /** How often the session is checked. @default 1000 */
  intervalMs?: number;
  logger: Logger;
}

/**
 * Calls `revoked` once the session of `identity` is revoked, checking every `intervalMs`; returns what stops the
 * watch, or undefined for an identity without a session. Each check reads the gateway's cached answer, so that the
 * connections and streams of one session cost one look-up per cache period together, whatever their number.
 */
export function watchRevocation(identity: Identity, watch: RevocationWatch, revoked: () => void): (() => void) | undefined {
  const sessionId = identity.kind === 'user' ? identity.sessionId : undefined;
  const { isRevoked } = watch;
  if (sessionId === undefined || !isRevoked) return undefined;
  let stopped = false;
  const timer = setInterval(() => {
    isRevoked(sessionId)
      .then((isNowRevoked) => {
        if (!isNowRevoked || stopped) return;
        stopped = true;
        clearInterval(timer);
        revoked();
      })
      // Not known to be revoked: the connection stays, and the next check asks again.
      .catch((error: unknown) => watch.logger.warn({ err: error }, 'checking a connection for a revoked session failed'));
  }, watch.intervalMs ?? 1000);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
