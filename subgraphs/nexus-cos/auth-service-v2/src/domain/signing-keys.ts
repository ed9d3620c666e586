import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { EntityManager } from '@nexusflow/kit';
import { OAuthSigningKey } from '../entities/oauth-signing-key.entity.ts';
import type { SealedSecrets } from './sealed-secrets.ts';

/** RS256: what every OpenID Connect relying party verifies (the default `id_token_signed_response_alg`). */
export const ID_TOKEN_ALGORITHM = 'RS256';

/**
 * The private JWKs the provider signs with, newest first, making the first one when there is none. The provider
 * publishes their public halves at its JWKS endpoint. Instances starting together may each make one: both are then
 * published, and either signs.
 */
export async function loadSigningKeys(em: EntityManager, secrets: SealedSecrets): Promise<JWK[]> {
  let keys = await em.find(OAuthSigningKey, {}, { orderBy: { createdAt: 'desc' } });
  if (keys.length === 0) {
    const { privateKey } = await generateKeyPair(ID_TOKEN_ALGORITHM, { modulusLength: 2048, extractable: true });
    const id = crypto.randomUUID();
    em.create(OAuthSigningKey, {
      id,
      algorithm: ID_TOKEN_ALGORITHM,
      sealedPrivateJwk: secrets.sealSigningKey(JSON.stringify(await exportJWK(privateKey)), id),
    });
    await em.flush();
    keys = await em.find(OAuthSigningKey, {}, { orderBy: { createdAt: 'desc' } });
  }
  return keys.map((key) => ({
    ...(JSON.parse(secrets.openSigningKey(key.sealedPrivateJwk, key.id)) as JWK),
    kid: key.id,
    alg: key.algorithm,
    use: 'sig',
  }));
}
