import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * What a COS user allowed a client of their tenant, one row per user and client: the next authorization of the same
 * scopes reuses its grant instead of asking again.
 */
export const OAuthConsentSchema = defineEntity({
  name: 'OAuthConsent',
  tableName: 'oauth_consents',
  filters: tenantFilter(),
  uniques: [{ properties: ['userId', 'clientId'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    userId: p.uuid(),
    clientId: p.uuid().index(),
    scopes: p.json<string[]>(),
    /** The provider's Grant holding these scopes; gone when the grant was revoked, and then made anew. */
    grantId: p.string(),
    grantedAt: p.datetime(),
  },
});

export class OAuthConsent extends OAuthConsentSchema.class {}
OAuthConsentSchema.setClass(OAuthConsent);
