import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A key pair token-mgr signs access tokens with. Not tenant-owned: one key ring signs every tenant's tokens, and its
 * public halves are public (the JWKS). The private half is stored sealed ({@link KeyBox}), never in the clear.
 */
export const SigningKeySchema = defineEntity({
  name: 'SigningKey',
  tableName: 'signing_keys',
  properties: {
    ...entityBase,
    algorithm: p.string(),
    /** The public JWK, as the JWKS serves it (without `kid`, which is the id). */
    publicJwk: p.json<Record<string, string>>(),
    /** The private key (PKCS#8 PEM), sealed with the key-encryption key of the configuration. */
    sealedPrivateKey: p.text(),
    publishedAt: p.datetime(),
    activatesAt: p.datetime().unique(),
    retiresAt: p.datetime().nullable(),
    expiresAt: p.datetime().nullable().index(),
  },
});

export class SigningKey extends SigningKeySchema.class {}
SigningKeySchema.setClass(SigningKey);
