import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A connection between its start (the authorization URL handed out) and its completion: bound to the admin and tenant
 * that started it, single-use, short-lived. Only the SHA-256 hash of its `state` is stored, and the PKCE verifier is
 * sealed like the tokens, so the table holds nothing that completes a connection.
 */
export const IntegrationAuthorizationSchema = defineEntity({
  name: 'IntegrationAuthorization',
  tableName: 'integration_authorizations',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    userId: p.uuid(),
    provider: p.string(),
    /** The base64url SHA-256 of the state. */
    stateHash: p.string().unique(),
    /** Sealed with the key ring and bound to this row's id; null for providers without PKCE. */
    codeVerifier: p.text().nullable(),
    expiresAt: p.datetime().index(),
    usedAt: p.datetime().nullable(),
  },
});

export class IntegrationAuthorization extends IntegrationAuthorizationSchema.class {}
IntegrationAuthorizationSchema.setClass(IntegrationAuthorization);
