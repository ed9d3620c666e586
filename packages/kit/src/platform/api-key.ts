import { createHash } from 'node:crypto';

/** Every API key's secret starts with this, so that the gateway tells a key from an access token at a glance. */
export const API_KEY_PREFIX = 'nfk_';

/**
 * Lower-case hex SHA-256 of an API key's secret: what the auth subgraph stores and what the gateway asks it about, so
 * that the secret itself is kept nowhere. A fast hash is right here: a key is 256 random bits, not a guessable password.
 */
export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
