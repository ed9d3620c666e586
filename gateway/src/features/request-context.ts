import type { IncomingMessage } from 'node:http';
import { clientAddress } from '../admission/client-address.ts';
import { rateLimitHttpError } from '../admission/rate-limits.ts';
import type { ApiKeyLookup } from '../api-keys.ts';
import { authenticate, type AccessTokenKeys } from '../authenticate.ts';
import type { GatewayContext } from '../context.ts';
import type { SessionRevocationCheck } from '../session-revocation.ts';
import type { LoadShedding } from './load-shedding.ts';
import type { RateLimiting } from './rate-limiting.ts';

export interface RequestContextOptions {
  jwtSecret: AccessTokenKeys;
  /** Resolves the API keys sent as `Authorization: Bearer nfk_…` or `x-api-key`. */
  apiKeys: ApiKeyLookup;
  /** Refuses access tokens of revoked sessions. */
  revokedSessions: SessionRevocationCheck;
  trustedProxyHops: number;
  now: (() => number) | undefined;
  shedding: LoadShedding;
  rateLimits: RateLimiting;
}

/** The context of an HTTP GraphQL request: shed if overloaded, then authenticated, then rate limited. */
export function requestContext(options: RequestContextOptions) {
  return async (req: IncomingMessage, requestId: string): Promise<GatewayContext> => {
    options.shedding.refuseLargeBody(req);
    const { identity } = await authenticate(req, options.jwtSecret, options.now, options.apiKeys, options.revokedSessions);
    const address = clientAddress(req, options.trustedProxyHops);
    const refused = await options.rateLimits.check(identity, address);
    if (refused) throw rateLimitHttpError(refused);
    const userAgent = req.headers['user-agent'];
    return { identity, requestId, clientAddress: address, ...(userAgent ? { userAgent } : {}) };
  };
}
