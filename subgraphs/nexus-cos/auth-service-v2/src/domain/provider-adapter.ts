import { errors, type Adapter, type AdapterPayload, type ClientMetadata } from 'oidc-provider';
import { isUuid, systemFork, type Database } from '@nexusflow/kit';
import { OAuthClient } from '../entities/oauth-client.entity.ts';
import { ProviderRecord } from '../entities/provider-record.entity.ts';
import type { ClientSecretVault } from './client-secret-vault.ts';

/** The provider's name for a grant type, by ours. */
const GRANT_TYPES = { AUTHORIZATION_CODE: 'authorization_code', CLIENT_CREDENTIALS: 'client_credentials', REFRESH_TOKEN: 'refresh_token' };

/** A registered client as the provider reads it (OpenID Connect Dynamic Client Registration metadata). */
export async function clientMetadata(client: OAuthClient, vault: ClientSecretVault): Promise<ClientMetadata> {
  const confidential = client.clientType === 'CONFIDENTIAL' && client.encryptedSecret !== null;
  const codeFlow = client.grantTypes.includes('AUTHORIZATION_CODE');
  return {
    client_id: client.id,
    client_name: client.name,
    application_type: 'web',
    grant_types: client.grantTypes.map((grantType) => GRANT_TYPES[grantType]),
    response_types: codeFlow ? ['code'] : [],
    redirect_uris: client.redirectUris,
    ...(confidential
      ? {
          token_endpoint_auth_method: 'client_secret_basic',
          client_secret: await vault.open(client.encryptedSecret!, client.id, client.tenantId),
        }
      : { token_endpoint_auth_method: 'none' }),
  };
}

const toEpochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

/**
 * oidc-provider's storage on the service's own database: clients from `oauth_clients` (registered through the graph),
 * everything else it keeps (grants, codes, tokens, sessions, interactions) as JSON records that expire and are pruned.
 * Each call is a unit of work of its own, outside any tenant: the provider finds records by the ids its callers hold.
 */
export function providerAdapter(database: Database, vault: ClientSecretVault, now: () => Date): (model: string) => Adapter {
  const key = (model: string, id: string) => `${model}:${id}`;
  const live = (record: ProviderRecord | null): AdapterPayload | undefined =>
    record && (!record.expiresAt || record.expiresAt > now()) ? record.payload : undefined;

  const clients: Adapter = {
    async find(id) {
      // Whatever an app presents as its client_id is looked up: only a UUID can be one of ours.
      if (!isUuid(id)) return undefined;
      const client = await systemFork(database).findOne(OAuthClient, { id });
      return client ? clientMetadata(client, vault) : undefined;
    },
    upsert: () => Promise.reject(new Error('clients are registered through the graph, not by the provider')),
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    consume: async () => undefined,
    destroy: async () => undefined,
    revokeByGrantId: async () => undefined,
  };

  return (model) => {
    if (model === 'Client') return clients;
    return {
      async upsert(id, payload, expiresIn) {
        const em = systemFork(database);
        await em.upsert(ProviderRecord, {
          key: key(model, id),
          model,
          payload: { ...payload },
          grantId: payload.grantId ?? null,
          uid: payload.uid ?? null,
          userCode: payload.userCode ?? null,
          clientId: payload.clientId ?? null,
          expiresAt: typeof expiresIn === 'number' ? new Date(now().getTime() + expiresIn * 1000) : null,
        });
      },
      async find(id) {
        return live(await systemFork(database).findOne(ProviderRecord, { key: key(model, id) }));
      },
      async findByUid(uid) {
        return live(await systemFork(database).findOne(ProviderRecord, { model, uid }));
      },
      async findByUserCode(userCode) {
        return live(await systemFork(database).findOne(ProviderRecord, { model, userCode }));
      },
      async consume(id) {
        const em = systemFork(database);
        const record = await em.findOne(ProviderRecord, { key: key(model, id) });
        if (!record) return;
        // The provider reads `consumed` before it calls this, so two requests exchanging one code or refresh token at
        // once both get here: only the update that finds it unconsumed wins; the other is a reuse, and ends the grant.
        const consumed = await em.nativeUpdate(
          ProviderRecord,
          { key: record.key, payload: { consumed: null } },
          { payload: { ...record.payload, consumed: toEpochSeconds(now()) } },
        );
        if (consumed === 0) {
          if (record.grantId)
            await em.nativeDelete(ProviderRecord, { $or: [{ grantId: record.grantId }, { key: key('Grant', record.grantId) }] });
          throw new errors.InvalidGrant(`${model} already consumed`);
        }
      },
      async destroy(id) {
        await systemFork(database).nativeDelete(ProviderRecord, { key: key(model, id) });
      },
      async revokeByGrantId(grantId) {
        await systemFork(database).nativeDelete(ProviderRecord, { grantId });
      },
    };
  };
}

/** Deletes the provider's expired records; what the pruning task runs. Returns how many went. */
export async function pruneExpiredRecords(database: Database, now: Date): Promise<number> {
  return systemFork(database).nativeDelete(ProviderRecord, { expiresAt: { $lte: now } });
}
