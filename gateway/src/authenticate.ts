import type { IncomingMessage } from 'node:http';
import {
  ANONYMOUS,
  API_KEY_PREFIX,
  bearerToken,
  ErrorCode,
  HttpError,
  verifyAccessToken,
  verifyJwksAccessToken,
  type Identity,
  type JwksAccessTokenSettings,
} from '@nexusflow/kit/core';
import type { ApiKeyLookup } from './api-keys.ts';
import type { SessionRevocationCheck } from './session-revocation.ts';

/**
 * What access tokens are verified with: the secret NexusFlow's auth signs them with (HS256), or the JWKS of an issuer
 * that signs them with asymmetric keys (Nexus COS's token-mgr), which shares no secret with the gateway.
 */
export type AccessTokenKeys = string | JwksAccessTokenSettings;

const verifyToken = (token: string, keys: AccessTokenKeys, now: number) =>
  typeof keys === 'string' ? verifyAccessToken(token, keys, now) : verifyJwksAccessToken(token, keys, now);

/**
 * Where a caller's credentials come from: an HTTP request's Authorization header (an access token, or an API key
 * `nfk_…`) or its `x-api-key` header, or the payload of a WebSocket's `connection_init` (`{ authorization: "Bearer …" }`,
 * as on HTTP, `{ token }` or `{ apiKey }`).
 */
export type CredentialSource =
  | { authorizationHeader: string | undefined; apiKeyHeader?: string | string[] | undefined }
  | { connectionParams: Record<string, unknown> | undefined };

export interface Authenticated {
  identity: Identity;
  /** When the access token or API key expires (ms since the epoch); unset for anonymous callers and keys that never expire. */
  expiresAt?: number;
}

/** Why credentials were refused: `invalid_request` for credentials that are not a bearer token, else `invalid_token`. */
export interface AuthenticationRefusal {
  error: 'invalid_request' | 'invalid_token';
  message: string;
}

type Credentials = { token: string } | { apiKey: string } | { malformed: string } | undefined;

/** A bearer credential is an API key when it says so; anything else is taken for an access token. */
const bearer = (token: string): Credentials => (token.startsWith(API_KEY_PREFIX) ? { apiKey: token } : { token });

function credentialsFrom(source: CredentialSource): Credentials {
  if ('authorizationHeader' in source) {
    const header = source.authorizationHeader?.trim();
    const apiKeyHeader = source.apiKeyHeader;
    if (Array.isArray(apiKeyHeader) || (header && apiKeyHeader !== undefined))
      return { malformed: 'Send one credential: an Authorization header or one x-api-key header' };
    if (apiKeyHeader !== undefined) {
      const apiKey = apiKeyHeader.trim();
      return apiKey.startsWith(API_KEY_PREFIX) ? { apiKey } : { malformed: `x-api-key must be an API key (${API_KEY_PREFIX}…)` };
    }
    if (!header) return undefined;
    const token = bearerToken(header);
    return token ? bearer(token) : { malformed: 'Authorization header must be "Bearer <access token>"' };
  }
  const params = source.connectionParams;
  const header = params?.authorization ?? params?.Authorization;
  // Present but not text is a malformed credential, refused like any other, never read as no credential at all.
  for (const [name, value] of [
    ['authorization', header],
    ['token', params?.token],
    ['apiKey', params?.apiKey],
  ] as const)
    if (value !== undefined && value !== null && typeof value !== 'string') return { malformed: `${name} must be a string` };
  // A WebSocket client sets its payload itself, so the bare token is accepted there too.
  const token = typeof header === 'string' ? (bearerToken(header) ?? header) : typeof params?.token === 'string' ? params.token : undefined;
  if (token) return bearer(token);
  return typeof params?.apiKey === 'string' ? { apiKey: params.apiKey } : undefined;
}

export const SESSION_REVOKED_MESSAGE = 'Session has been revoked; sign in again';

/**
 * The caller, from its credentials, for HTTP and WebSocket alike. No credentials mean an anonymous caller, which the
 * subgraphs then restrict. Credentials that are present but malformed, forged, expired or of a revoked session are
 * refused outright, never downgraded to anonymous, so that a client notices its session ended instead of seeing empty
 * data.
 */
export async function authenticateCredentials(
  source: CredentialSource,
  jwtSecret: AccessTokenKeys,
  now: () => number = Date.now,
  apiKeys?: ApiKeyLookup,
  sessions?: SessionRevocationCheck,
): Promise<Authenticated | AuthenticationRefusal> {
  const credentials = credentialsFrom(source);
  if (!credentials) return { identity: ANONYMOUS };
  if ('malformed' in credentials) return { error: 'invalid_request', message: credentials.malformed };
  if ('apiKey' in credentials) {
    const caller = await apiKeys?.(credentials.apiKey);
    return caller ?? { error: 'invalid_token', message: 'API key is invalid, revoked or expired' };
  }
  const verification = await verifyToken(credentials.token, jwtSecret, now());
  if (verification.ok) {
    const { identity } = verification;
    if (identity.kind === 'user' && identity.sessionId !== undefined && (await sessions?.(identity.sessionId)))
      return { error: 'invalid_token', message: SESSION_REVOKED_MESSAGE };
    return { identity, expiresAt: verification.expiresAt.getTime() };
  }
  return { error: 'invalid_token', message: verification.reason === 'expired' ? 'Access token has expired' : 'Access token is invalid' };
}

export function isRefusal(result: Authenticated | AuthenticationRefusal): result is AuthenticationRefusal {
  return 'error' in result;
}

/** The caller of an HTTP request; a refusal is a 401 with its `WWW-Authenticate` challenge. */
export async function authenticate(
  req: IncomingMessage,
  jwtSecret: AccessTokenKeys,
  now: () => number = Date.now,
  apiKeys?: ApiKeyLookup,
  sessions?: SessionRevocationCheck,
): Promise<Authenticated> {
  const result = await authenticateCredentials(
    { authorizationHeader: req.headers.authorization, apiKeyHeader: req.headers['x-api-key'] },
    jwtSecret,
    now,
    apiKeys,
    sessions,
  );
  if (!isRefusal(result)) return result;
  throw new HttpError(401, ErrorCode.Unauthenticated, result.message, { 'www-authenticate': `Bearer error="${result.error}"` });
}
