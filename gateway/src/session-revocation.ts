import { LRUCache } from 'lru-cache';
import { ANONYMOUS, callSubgraph, RedisRevokedSessions, type Logger, type RevokedSessions } from '@nexusflow/kit/core';
// Typed by codegen against the auth subgraph's schema, and checked by `schema:check` as the gateway's call to it.
import { SessionRevokedDocument } from './__generated__/nexusflow-auth-operations.ts';

/** Whether a session's access tokens must be refused; false when nobody can say (see {@link sessionRevocation}). */
export type SessionRevocationCheck = (sessionId: string) => Promise<boolean>;

export interface SessionRevocation {
  isRevoked: SessionRevocationCheck;
  close(): Promise<void>;
}

export interface SessionRevocationOptions {
  /** The revoked sessions auth writes, shared by every gateway: read directly when set. */
  redisUrl: string | undefined;
  redisNamespace: string;
  /** Otherwise the auth subgraph is asked (its routing URL, once a supergraph has named it). */
  authUrl: () => string | undefined;
  /** Whether a supergraph is loaded: one without an auth subgraph (Nexus COS, whose token-mgr revokes) has none to ask. */
  supergraphLoaded: () => boolean;
  internalSecret: string;
  /** How long an answer is reused per session: how late a revocation may be seen, beside the check's own time. */
  cacheMs: number;
  logger: Logger;
  now?: () => number;
}

/** Enough for every session a busy gateway sees in a second; beyond it the oldest answers are asked again. */
const MAX_CACHED_ANSWERS = 50_000;

/** How long the auth subgraph may take to answer; past it the session counts as not revoked. */
const AUTH_TIMEOUT_MS = 1000;

/** The auth subgraph's answer: what an embedded deployment, whose revoked sessions live in auth's memory, reads. */
function askAuth(options: SessionRevocationOptions, now: () => number): RevokedSessions['isRevoked'] {
  let toldOfNoAuth = false;
  return async (id) => {
    const url = options.authUrl();
    if (!url && options.supergraphLoaded()) {
      // Not an outage, and so not a warning per request: said once, while the served graph has no auth subgraph.
      if (!toldOfNoAuth) options.logger.info('the supergraph has no auth subgraph: sessions are not checked against its revocations');
      toldOfNoAuth = true;
      return false;
    }
    toldOfNoAuth = false;
    if (!url) throw new Error('no supergraph names the auth subgraph yet');
    const data = await callSubgraph({
      url,
      query: SessionRevokedDocument,
      variables: { id },
      identity: ANONYMOUS,
      internalSecret: options.internalSecret,
      timeoutMs: AUTH_TIMEOUT_MS,
      now,
    });
    return data.sessionRevoked;
  };
}

/**
 * Checks an access token's session against the sessions auth revoked: in Redis when REDIS_URL is set (every gateway
 * and auth instance share the set), else by asking the auth subgraph. Answers are reused for `cacheMs` per session
 * (1 s by default), so a busy client costs one look-up a second, and a revocation is seen within about that on every
 * instance. When the set cannot be read (Redis, or auth, unreachable) the session counts as not revoked and a warning is
 * logged, as the rate limits fail open: the token itself is valid and expires within its short lifetime, and an outage
 * of revocation must not become an outage of every signed-in request.
 */
export function sessionRevocation(options: SessionRevocationOptions): SessionRevocation {
  const now = options.now ?? Date.now;
  const redis = options.redisUrl
    ? new RedisRevokedSessions(options.redisUrl, options.logger, { prefix: `${options.redisNamespace}:` })
    : undefined;
  const ask = redis ? (id: string) => redis.isRevoked(id) : askAuth(options, now);
  const lookUp = async (id: string): Promise<boolean> => {
    try {
      return await ask(id);
    } catch (error) {
      options.logger.warn({ err: (error as Error).message }, 'revoked sessions unavailable; accepting the session');
      return false;
    }
  };
  const answers =
    options.cacheMs > 0 ? new LRUCache<string, { revoked: boolean }>({ max: MAX_CACHED_ANSWERS, ttl: options.cacheMs }) : undefined;
  const inFlight = new Map<string, Promise<boolean>>();

  return {
    isRevoked: async (id) => {
      const answer = answers?.get(id);
      if (answer) return answer.revoked;
      // Requests of one session arriving together share one look-up.
      let pending = inFlight.get(id);
      if (!pending) {
        pending = lookUp(id)
          .then((revoked) => {
            answers?.set(id, { revoked });
            return revoked;
          })
          .finally(() => inFlight.delete(id));
        inFlight.set(id, pending);
      }
      return pending;
    },
    close: async () => {
      await redis?.close();
    },
  };
}
