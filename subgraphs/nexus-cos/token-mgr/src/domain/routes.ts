import type { RouteHandler } from '@nexusflow/kit';
import { JWKS_PATH, REVOCATIONS_PATH } from '@nexusflow/topology';
import type { TokenMgrServices } from '../context.ts';

/** Verifiers cache the JWKS this long; a successor key is published well before (KEY_PUBLICATION_LEAD_MINUTES). */
const JWKS_MAX_AGE_SECONDS = 300;

function sendJson(res: Parameters<RouteHandler>[1], status: number, body: unknown, headers: Record<string, string> = {}): true {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  return true;
}

/**
 * Public routes beside GraphQL: the JWKS verifiers fetch (RFC 7517), and the revocation list by token id. Both answer
 * anyone: public keys are public, and asking about a jti needs the token it is in.
 */
export function tokenRoutes(services: TokenMgrServices): RouteHandler[] {
  const jwks: RouteHandler = async (req, res, url) => {
    if (url.pathname !== JWKS_PATH) return false;
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
    const body = await services.keys.jwks(services.database.fork(), services.now());
    return sendJson(res, 200, body, { 'cache-control': `public, max-age=${JWKS_MAX_AGE_SECONDS}` });
  };
  const revocations: RouteHandler = async (req, res, url) => {
    if (!url.pathname.startsWith(REVOCATIONS_PATH)) return false;
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
    const jti = decodeURIComponent(url.pathname.slice(REVOCATIONS_PATH.length));
    return sendJson(
      res,
      200,
      { jti, revoked: await services.accessTokens.isRevoked(services.database, jti) },
      { 'cache-control': 'no-store' },
    );
  };
  return [jwks, revocations];
}
