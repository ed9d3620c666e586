import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export type IntegrationStatus = 'CONNECTED' | 'TOKEN_EXPIRED' | 'SYNCING' | 'ERROR';

/**
 * A tenant's connection to one provider account: an OAuth grant (its tokens sealed in `credentials`, see
 * domain/key-ring.ts), or for Zapier and Make a REST hook subscription to `hookTargetUrl`. A disconnected one keeps its
 * row, without credentials, for what was synced through it; the API shows connected ones only.
 */
export const IntegrationSchema = defineEntity({
  name: 'Integration',
  tableName: 'integrations',
  filters: tenantFilter(),
  // App-level webhooks route each event to the integrations of the account it names.
  indexes: [{ properties: ['provider', 'accountId'], name: 'integrations_provider_account_id_index' }],
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The admin who connected it. */
    connectedBy: p.uuid(),
    provider: p.string(),
    status: p.string().$type<IntegrationStatus>(),
    /** Why it is in ERROR or TOKEN_EXPIRED, in the provider's words. */
    statusMessage: p.text().nullable(),
    /** The provider's id of the account (Slack team, HubSpot portal, Salesforce org): connecting it again updates this row. */
    accountId: p.string().nullable(),
    /** What the provider calls the account, e.g. a Slack workspace's name or a Salesforce instance's host. */
    accountLabel: p.string().nullable(),
    /** The scopes the provider granted, as it listed them. */
    scopes: p.json<string[]>(),
    /** The access and refresh tokens, sealed with INTEGRATIONS_ENCRYPTION_KEYS and bound to this row's id. */
    credentials: p.text().nullable(),
    /** The key `credentials` is sealed with, to find what is left to re-encrypt after a rotation. */
    credentialsKeyId: p.string().nullable().index(),
    /** When the access token stops working; null when it does not expire, or for REST hooks. */
    accessTokenExpiresAt: p.datetime().nullable(),
    /** Where this account's API is, when the provider says (Salesforce `instance_url`, Pipedrive and Zoho `api_domain`). */
    apiBaseUrl: p.text().nullable(),
    /** Zapier and Make: the hook URL the tenant registered, where deliveries go. */
    hookTargetUrl: p.text().nullable(),
    lastSyncAt: p.datetime().nullable(),
    disconnectedAt: p.datetime().nullable(),
  },
});

export class Integration extends IntegrationSchema.class {}
IntegrationSchema.setClass(Integration);
