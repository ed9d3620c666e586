import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A sign-in through an identity provider between its start (the authorization URL handed out) and its completion.
 * Only the SHA-256 hash of its `state` is stored; the PKCE verifier and the nonce are derived from the state with a
 * server key (see domain/oidc-sign-in.ts), so the table holds nothing that completes a sign-in. It works once.
 */
export const OidcSignInSchema = defineEntity({
  name: 'OidcSignIn',
  tableName: 'oidc_sign_ins',
  properties: {
    ...entityBase,
    provider: p.string(),
    /** The base64url SHA-256 of the state. */
    stateHash: p.string().unique(),
    /** Where the provider sends the person back; the completion must come from the same one. */
    redirectUri: p.text(),
    expiresAt: p.datetime().index(),
    usedAt: p.datetime().nullable(),
  },
});

export class OidcSignIn extends OidcSignInSchema.class {}
OidcSignInSchema.setClass(OidcSignIn);
