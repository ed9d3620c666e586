import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { AuthServiceV2Services } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';

const REGISTER = `mutation ($input: RegisterOAuthClientInput!) { registerOAuthClient(input: $input) {
  clientSecret client { id name clientType grantTypes redirectUris } } }`;
const FIND = 'query ($id: ID!) { oauthClient(id: $id) { id name } }';

const caller = (roles = [Role.Owner]): Identity => ({ kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles });
const valid = {
  name: 'Partner app',
  clientType: 'PUBLIC',
  grantTypes: ['AUTHORIZATION_CODE'],
  redirectUris: ['https://partner.example/cb'],
};

describe('OAuth client registration in the auth-service-v2 subgraph', () => {
  let under: SubgraphUnderTest<AuthServiceV2Services>;

  beforeAll(async () => {
    under = await startSubgraphUnderTest('auth-service-v2-behaviour', (env) => subgraph.start(env));
  });

  afterAll(async () => {
    await under?.close();
  });

  const register = (identity: Identity, input: Record<string, unknown>) =>
    under.ask<{ registerOAuthClient: { clientSecret: string | null; client: { id: string } } }>(identity, REGISTER, {
      input: { ...valid, ...input },
    });

  it.each([
    [{ name: '  ' }, 'name'],
    [{ grantTypes: [] }, 'grantTypes'],
    [{ grantTypes: ['AUTHORIZATION_CODE', 'AUTHORIZATION_CODE'] }, 'grantTypes'],
    [{ grantTypes: ['AUTHORIZATION_CODE', 'CLIENT_CREDENTIALS'] }, 'grantTypes'],
    [{ clientType: 'CONFIDENTIAL', grantTypes: ['CLIENT_CREDENTIALS', 'REFRESH_TOKEN'], redirectUris: [] }, 'grantTypes'],
    [{ redirectUris: [] }, 'redirectUris'],
    [{ clientType: 'CONFIDENTIAL', grantTypes: ['CLIENT_CREDENTIALS'] }, 'redirectUris'],
    [{ redirectUris: ['https://partner.example/cb', 'ftp://partner.example/cb'] }, 'redirectUris.1'],
    [{ redirectUris: ['http://10.0.0.1/cb'] }, 'redirectUris.0'],
    [{ redirectUris: ['http://localhost:3000/cb'] }, 'redirectUris.0'],
    [{ redirectUris: ['https://127.0.0.1/cb', 'https://localhost/cb'] }, 'redirectUris.1'],
    [{ redirectUris: ['https://localhost./cb'] }, 'redirectUris.0'],
    [{ redirectUris: ['https://app.localhost/cb'] }, 'redirectUris.0'],
  ])('refuses %j with BAD_USER_INPUT naming %s, logging no error', async (input, field) => {
    const refused = await register(caller(), input);
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field } });
    expect(under.loggedErrors).toEqual([]);
  });

  it('accepts http redirect URIs on the loopback addresses', async () => {
    const redirectUris = ['http://127.0.0.1:9000/cb', 'http://[::1]/cb'];
    expect((await register(caller([Role.Admin]), { redirectUris })).data?.registerOAuthClient.client).toMatchObject({ redirectUris });
  });

  it('refuses an anonymous caller with UNAUTHENTICATED and a malformed id with BAD_USER_INPUT', async () => {
    expect((await register({ kind: 'anonymous' }, {})).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await under.ask(caller(), FIND, { id: 'not-a-uuid' })).errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'id' },
    });
  });
});
