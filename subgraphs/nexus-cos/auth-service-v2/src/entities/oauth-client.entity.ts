import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { OAuthClientType, OAuthGrantType } from '../__generated__/resolvers-types.ts';

export const OAUTH_CLIENT_TYPES = ['CONFIDENTIAL', 'PUBLIC'] as const satisfies readonly OAuthClientType[];

/**
 * A third-party app one tenant registered: its id is the OAuth `client_id`. The tenant filter keeps other tenants'
 * clients out of every graph query; the provider reads it by id alone (its adapter), for whoever presents the id.
 */
export const OAuthClientSchema = defineEntity({
  name: 'OAuthClient',
  tableName: 'oauth_clients',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The user who registered it. */
    createdBy: p.uuid(),
    name: p.string(),
    clientType: p.enum([...OAUTH_CLIENT_TYPES]),
    grantTypes: p.json<OAuthGrantType[]>(),
    redirectUris: p.json<string[]>(),
    /** The client secret as key-service encrypted it (see ClientSecretVault); null for a public client. */
    encryptedSecret: p.text().nullable(),
    secretIssuedAt: p.datetime().nullable(),
  },
});

export class OAuthClient extends OAuthClientSchema.class {}
OAuthClientSchema.setClass(OAuthClient);
