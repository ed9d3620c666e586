import { Role, tenantFilter, timestampedEntityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * The SAML identity provider a tenant signs its people in with (at most one per tenant): whose signed assertions are
 * believed, where sign-ins are sent, and what people it brings in become.
 */
export const SamlConnectionSchema = defineEntity({
  name: 'SamlConnection',
  tableName: 'saml_connections',
  filters: tenantFilter(),
  properties: {
    ...timestampedEntityBase,
    tenantId: p.uuid().unique(),
    /** The IdP's entity id, which its assertions name as their Issuer. */
    idpEntityId: p.text(),
    /** Where sign-ins are sent (the IdP's HTTP-Redirect SingleSignOnService). */
    ssoUrl: p.text(),
    /** The certificate (PEM) whose key must sign the response or its assertion. */
    signingCertificate: p.text(),
    /** SHA-256 of the certificate (DER), colon-separated upper-case hex, as IdP consoles show it. */
    certificateFingerprint: p.string(),
    certificateExpiresAt: p.datetime(),
    /** The role a person gets on their first SAML sign-in to the tenant. */
    jitRole: p.enum(() => Role),
    /** Lower-cased; empty: any email the IdP vouches for. */
    allowedEmailDomains: p.array(),
    /** Who configured it last. */
    configuredBy: p.uuid(),
  },
});

export class SamlConnection extends SamlConnectionSchema.class {}
SamlConnectionSchema.setClass(SamlConnection);
