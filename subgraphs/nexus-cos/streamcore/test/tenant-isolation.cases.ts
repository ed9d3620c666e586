import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateStreamAssetInput!) { createStreamAsset(input: $input) { id name } }';
const LIST = '{ streamAssets(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { streamAsset(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's streamAssets: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createStreamAsset.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.streamAssets': async ({ b, data }) => {
      expect((await data(b, LIST)).streamAssets).toEqual([]);
    },
    'Query.streamAsset': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).streamAsset).toBeNull();
    },
    'Mutation.createStreamAsset': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createStreamAsset.name).toBe('Tenant B');
    },
  },
  entities: { StreamAsset: { selection: '... on StreamAsset { id name createdAt }', id: ({ id }) => id } },
});
