import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * One record of the OAuth provider's state (oidc-provider's models: grants, authorization codes, access and refresh
 * tokens, sessions, interactions), keyed `<model>:<id>`. Not tenant-filtered: the provider finds them by id on behalf of
 * whoever holds the token; its client's tenant is the client's.
 */
export const ProviderRecordSchema = defineEntity({
  name: 'ProviderRecord',
  tableName: 'oauth_provider_records',
  properties: {
    key: p.string().primary(),
    model: p.string(),
    payload: p.json<Record<string, unknown>>(),
    grantId: p.string().nullable().index(),
    uid: p.string().nullable().index(),
    userCode: p.string().nullable().index(),
    clientId: p.string().nullable().index(),
    /** Null for what lives until destroyed; past it the record is pruned, and never found. */
    expiresAt: p.datetime().nullable().index(),
  },
});

export class ProviderRecord extends ProviderRecordSchema.class {}
ProviderRecordSchema.setClass(ProviderRecord);
