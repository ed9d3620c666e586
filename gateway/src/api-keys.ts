import { ANONYMOUS, callSubgraph, ErrorCode, hashApiKeySecret, HttpError, Role, type Identity } from '@nexusflow/kit/core';
// Typed by codegen against the auth subgraph's schema, and checked by `schema:check` as the gateway's call to it.
import { AuthenticateApiKeyDocument, type AuthenticateApiKeyMutation } from './__generated__/nexusflow-auth-operations.ts';

/** The caller an API key stands for: a user of its tenant with the roles of its scopes, marked as no person. */
export interface ApiKeyCaller {
  identity: Extract<Identity, { kind: 'user' }>;
  /** When the key expires (ms since the epoch); unset when it never does. */
  expiresAt?: number;
}

/** The caller of an API key's secret, or undefined for a key that is unknown, revoked or expired. */
export type ApiKeyLookup = (secret: string) => Promise<ApiKeyCaller | undefined>;

export interface ApiKeyLookupOptions {
  /** The auth subgraph's routing URL, once a supergraph has named it. */
  authUrl: () => string | undefined;
  internalSecret: string;
  /** How long an answer, accepted or refused, is reused; 0 asks the auth subgraph every time. */
  cacheTtlMs: number;
  timeoutMs: number;
  now?: () => number;
}

/** Enough for every key a gateway sees in a TTL; beyond it the oldest answers are forgotten first. */
const MAX_CACHED_ANSWERS = 10_000;

type AuthenticatedApiKey = AuthenticateApiKeyMutation['authenticateApiKey'];

const ROLES = new Set<string>(Object.values(Role));

const unavailable = () =>
  new HttpError(503, ErrorCode.ServiceUnavailable, 'API keys cannot be checked right now; try again shortly', { 'retry-after': '1' });

function callerOf(key: AuthenticatedApiKey | null | undefined): ApiKeyCaller | undefined {
  if (!key) return undefined;
  if (typeof key.id !== 'string' || typeof key.tenantId !== 'string' || !key.roles.every((role) => ROLES.has(role))) throw unavailable();
  const identity = { kind: 'user' as const, userId: key.id, tenantId: key.tenantId, roles: key.roles as Role[], via: 'api-key' as const };
  return key.expiresAt ? { identity, expiresAt: Date.parse(key.expiresAt) } : { identity };
}

/**
 * API keys, resolved by the auth subgraph (which alone holds them) and remembered for a while, accepted and refused
 * alike, so that a CI job's every request does not cost a call. The price is the revocation delay: a revoked key keeps
 * working on each gateway until its answer there expires. A key is never remembered past its own expiry. When auth
 * cannot answer, the request is refused as unavailable (503), never let through or called unauthenticated.
 */
export function apiKeyLookup(options: ApiKeyLookupOptions): ApiKeyLookup {
  const now = options.now ?? Date.now;
  const answers = new Map<string, { caller: ApiKeyCaller | undefined; until: number }>();
  const inFlight = new Map<string, Promise<ApiKeyCaller | undefined>>();

  async function ask(secretHash: string): Promise<ApiKeyCaller | undefined> {
    const url = options.authUrl();
    if (!url) throw unavailable();
    let data: AuthenticateApiKeyMutation;
    try {
      data = await callSubgraph({
        url,
        query: AuthenticateApiKeyDocument,
        variables: { secretHash },
        identity: ANONYMOUS,
        internalSecret: options.internalSecret,
        timeoutMs: options.timeoutMs,
        now,
      });
    } catch {
      throw unavailable();
    }
    return callerOf(data.authenticateApiKey);
  }

  function remember(secretHash: string, caller: ApiKeyCaller | undefined): void {
    if (options.cacheTtlMs === 0) return;
    const until = Math.min(now() + options.cacheTtlMs, caller?.expiresAt ?? Infinity);
    answers.delete(secretHash);
    answers.set(secretHash, { caller, until });
    if (answers.size > MAX_CACHED_ANSWERS) answers.delete(answers.keys().next().value!);
  }

  return async (secret) => {
    const secretHash = hashApiKeySecret(secret);
    const answer = answers.get(secretHash);
    if (answer && answer.until > now()) return answer.caller;
    answers.delete(secretHash);
    // Requests arriving together with one key share one call.
    let pending = inFlight.get(secretHash);
    if (!pending) {
      pending = ask(secretHash)
        .then((caller) => {
          remember(secretHash, caller);
          return caller;
        })
        .finally(() => inFlight.delete(secretHash));
      inFlight.set(secretHash, pending);
    }
    return pending;
  };
}
