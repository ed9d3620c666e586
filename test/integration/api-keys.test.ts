import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { postGraphQL, storageModes, type GraphQLResponse } from '@nexusflow/kit/testing';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { ask, errorCodes, idsOf } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';

const CREATE_API_KEY = `mutation ($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { __typename ... on CreatedApiKey { secret apiKey { id name scopes prefix } } ... on InvalidInput { fields { field } } }
}`;
const REVOKE_API_KEY = `mutation ($id: ID!) { revokeApiKey(id: $id) { __typename ... on ApiKey { id revokedAt } ... on ApiKeyNotFound { id } } }`;
const API_KEYS = `{ apiKeys { id name scopes prefix lastUsedAt revokedAt } }`;
const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id } } }`;
const WORKFLOWS = `{ workflows { edges { node { id name } } } }`;
const WORKFLOW_INPUT = { name: 'Built by CI', steps: [{ key: 'done', type: 'transform', config: { template: {} } }] };

/** How a CI job sends its key: the two HTTP headers the gateway accepts. */
const KEY_HEADERS = {
  'Authorization: Bearer': (secret: string) => ({ authorization: `Bearer ${secret}` }),
  'x-api-key': (secret: string) => ({ 'x-api-key': secret }),
};

/**
 * API keys end to end: an owner makes one through the gateway, and a "CI job" holding only the key runs operations
 * with it, as a user of the owner's tenant with the roles of the key's scopes.
 */
describe('API keys through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    /** API_KEY_CACHE_TTL_MS=0: asks the auth subgraph on every request, so revocation shows at once. */
    let uncached: RunningGateway;
    let owner: SignedUp;
    let workflowId: string;
    const clock = { now: Date.now() };

    beforeAll(async () => {
      stack = await startStack(mode, `api_keys_${mode}`, { now: () => clock.now });
      uncached = await stack.startGateway({ API_KEY_CACHE_TTL_MS: '0' });
      owner = await signUp(stack.gateway.graphqlUrl, 'api-keys');
      const created = (await ask(stack, owner.token, CREATE_WORKFLOW, { input: { ...WORKFLOW_INPUT, name: 'Nightly' } })).data
        ?.createWorkflow;
      workflowId = created.id;
    });

    afterAll(async () => {
      await stack?.close();
    });

    async function createKey(input: Record<string, unknown>): Promise<{ secret: string; id: string }> {
      const created = (await ask(stack, owner.token, CREATE_API_KEY, { input })).data?.createApiKey;
      if (created?.__typename !== 'CreatedApiKey') throw new Error(`createApiKey failed: ${JSON.stringify(created)}`);
      return { secret: created.secret, id: created.apiKey.id };
    }

    function withKey(
      gateway: RunningGateway,
      headers: Record<string, string>,
      document: string,
      variables?: Record<string, unknown>,
    ): Promise<GraphQLResponse<Record<string, any>>> {
      return postGraphQL(gateway.graphqlUrl, document, { headers, variables });
    }

    function expectUnauthenticated(response: GraphQLResponse<unknown>) {
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
    }

    it.each(Object.entries(KEY_HEADERS))('lets a CI job with a read key run a query, sending it as %s', async (_way, headers) => {
      const { secret } = await createKey({ name: 'CI reads', scopes: ['read'] });

      const response = await withKey(stack.gateway, headers(secret), WORKFLOWS);

      expect(response.errors).toBeUndefined();
      const edges = response.data?.workflows.edges as { node: { id: string } }[];
      expect(idsOf(edges.map((edge) => edge.node))).toContain(workflowId);
    });

    it('lets a WebSocket client authenticate with its key in the connection params', async () => {
      const { secret } = await createKey({ name: 'Dashboard', scopes: ['read'] });
      const client = createClient({
        url: stack.gateway.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: { apiKey: secret },
        retryAttempts: 0,
      });
      try {
        const { value } = await client.iterate({ query: WORKFLOWS }).next();
        const edges = (value as { data: { workflows: { edges: { node: { id: string } }[] } } }).data.workflows.edges;
        expect(edges.map((edge) => edge.node.id)).toContain(workflowId);
      } finally {
        await client.dispose();
      }
    });

    it('refuses a write with a read key as FORBIDDEN, and lets a write key write', async () => {
      const reader = await createKey({ name: 'CI reads', scopes: ['read'] });
      const writer = await createKey({ name: 'CI deploys', scopes: ['write'] });

      const refused = await withKey(stack.gateway, KEY_HEADERS['x-api-key'](reader.secret), CREATE_WORKFLOW, { input: WORKFLOW_INPUT });
      expect(errorCodes(refused)).toEqual(['FORBIDDEN']);

      const written = await withKey(stack.gateway, KEY_HEADERS['x-api-key'](writer.secret), CREATE_WORKFLOW, { input: WORKFLOW_INPUT });
      expect(written.data?.createWorkflow.__typename).toBe('Workflow');
    });

    it('never lets a key manage keys, whatever its scopes', async () => {
      const { secret } = await createKey({ name: 'Everything', scopes: ['read', 'write'] });
      const headers = KEY_HEADERS['Authorization: Bearer'](secret);

      expect(errorCodes(await withKey(stack.gateway, headers, API_KEYS))).toEqual(['FORBIDDEN']);
      expect(errorCodes(await withKey(stack.gateway, headers, CREATE_API_KEY, { input: { name: 'Child', scopes: ['write'] } }))).toEqual([
        'FORBIDDEN',
      ]);
    });

    it('lists keys without their secrets, with the time each was last used', async () => {
      const { secret, id } = await createKey({ name: 'Listed', scopes: ['read'] });
      await withKey(uncached, KEY_HEADERS['x-api-key'](secret), WORKFLOWS);

      const listed = (await ask(stack, owner.token, API_KEYS)).data?.apiKeys;
      expect(listed).toContainEqual({
        id,
        name: 'Listed',
        scopes: ['read'],
        prefix: secret.slice(0, 12),
        lastUsedAt: new Date(clock.now).toISOString(),
        revokedAt: null,
      });
      expect(JSON.stringify(listed)).not.toContain(secret);
    });

    it('refuses a revoked key with 401 UNAUTHENTICATED at once without a cache, and after the cache TTL with one', async () => {
      const { secret, id } = await createKey({ name: 'Leaked', scopes: ['read'] });
      const headers = KEY_HEADERS['Authorization: Bearer'](secret);
      expect((await withKey(stack.gateway, headers, WORKFLOWS)).status).toBe(200);

      const revoked = (await ask(stack, owner.token, REVOKE_API_KEY, { id })).data?.revokeApiKey;
      expect(revoked).toMatchObject({ __typename: 'ApiKey', id });

      expectUnauthenticated(await withKey(uncached, headers, WORKFLOWS));
      // The default gateway answered for this key a moment ago: it keeps that answer for API_KEY_CACHE_TTL_MS (30 s).
      expect((await withKey(stack.gateway, headers, WORKFLOWS)).status).toBe(200);
      clock.now += 30_000;
      expectUnauthenticated(await withKey(stack.gateway, headers, WORKFLOWS));
    });

    it('refuses an expired key, on every gateway, from the moment it expires', async () => {
      const { secret } = await createKey({ name: 'Short-lived', scopes: ['read'], expiresAt: new Date(clock.now + 60_000).toISOString() });
      const headers = KEY_HEADERS['x-api-key'](secret);
      expect((await withKey(stack.gateway, headers, WORKFLOWS)).status).toBe(200);
      expect((await withKey(uncached, headers, WORKFLOWS)).status).toBe(200);

      clock.now += 60_000;

      expectUnauthenticated(await withKey(uncached, headers, WORKFLOWS));
      expectUnauthenticated(await withKey(stack.gateway, headers, WORKFLOWS));
    });

    it('refuses a key nobody made like a forged token, and an x-api-key that is no key as a bad request', async () => {
      expectUnauthenticated(await withKey(stack.gateway, KEY_HEADERS['x-api-key']('nfk_nobody-made-this-key'), WORKFLOWS));
      const notAKey = await withKey(stack.gateway, { 'x-api-key': owner.token }, WORKFLOWS);
      expect(notAKey.status).toBe(401);
      expect(notAKey.headers.get('www-authenticate')).toBe('Bearer error="invalid_request"');
    });

    it("keeps the gateway's key lookup out of the API: clients cannot ask it", async () => {
      const response = await ask(stack, owner.token, 'mutation { authenticateApiKey(secretHash: "0") { tenantId } }');
      expect(errorCodes(response)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    });

    it('answers bad input to createApiKey with the fields at fault, and an unknown id to revokeApiKey as not found', async () => {
      const invalid = (await ask(stack, owner.token, CREATE_API_KEY, { input: { name: '', scopes: ['deploy'] } })).data?.createApiKey;
      expect(invalid).toEqual({ __typename: 'InvalidInput', fields: [{ field: 'name' }, { field: 'scopes.0' }] });
      const id = crypto.randomUUID();
      expect((await ask(stack, owner.token, REVOKE_API_KEY, { id })).data?.revokeApiKey).toEqual({ __typename: 'ApiKeyNotFound', id });
    });
  });
});
