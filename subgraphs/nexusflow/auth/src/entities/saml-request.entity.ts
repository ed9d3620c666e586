import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A sign-in this service sent to a tenant's IdP (an AuthnRequest, whose ID is `_` and this id), kept until answered or
 * expired: a response naming it in InResponseTo is accepted once, for that tenant only.
 */
export const SamlRequestSchema = defineEntity({
  name: 'SamlRequest',
  tableName: 'saml_requests',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    expiresAt: p.datetime().index(),
  },
});

export class SamlRequest extends SamlRequestSchema.class {}
SamlRequestSchema.setClass(SamlRequest);
