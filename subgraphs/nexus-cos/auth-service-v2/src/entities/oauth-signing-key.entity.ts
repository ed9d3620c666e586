import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A key auth-service-v2 signs ID tokens with; its id is the JWK's `kid`. Its own, not token-mgr's: tokens for
 * third-party apps have their own issuer. The private JWK is stored sealed, never in the clear.
 */
export const OAuthSigningKeySchema = defineEntity({
  name: 'OAuthSigningKey',
  tableName: 'oauth_signing_keys',
  properties: {
    ...entityBase,
    algorithm: p.string(),
    sealedPrivateJwk: p.text(),
  },
});

export class OAuthSigningKey extends OAuthSigningKeySchema.class {}
OAuthSigningKeySchema.setClass(OAuthSigningKey);
