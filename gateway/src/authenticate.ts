import type { IncomingMessage } from 'node:http';
import { ANONYMOUS, ErrorCode, HttpError, verifyAccessToken, type Identity } from '@nexusflow/kit/core';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

function refuse(message: string, error: 'invalid_token' | 'invalid_request'): HttpError {
  return new HttpError(401, ErrorCode.Unauthenticated, message, { 'www-authenticate': `Bearer error="${error}"` });
}

export interface Authenticated {
  identity: Identity;
  /** When the access token expires (ms since the epoch); unset for anonymous callers. */
  expiresAt?: number;
}

/**
 * No Authorization header means an anonymous caller, which the subgraphs then restrict. A header
 * that is present but malformed, forged or expired is refused outright, never downgraded to
 * anonymous, so that a client notices its session ended instead of seeing empty data.
 */
export async function authenticate(req: IncomingMessage, jwtSecret: string, now: () => number = Date.now): Promise<Authenticated> {
  const header = req.headers.authorization;
  if (header === undefined || header === '') return { identity: ANONYMOUS };
  const token = BEARER.exec(header)?.[1];
  if (!token) throw refuse('Authorization header must be "Bearer <access token>"', 'invalid_request');
  const verification = await verifyAccessToken(token, jwtSecret, now());
  if (verification.ok) return { identity: verification.identity, expiresAt: verification.expiresAt.getTime() };
  throw refuse(verification.reason === 'expired' ? 'Access token has expired' : 'Access token is invalid', 'invalid_token');
}
