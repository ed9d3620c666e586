import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateContentInput!) { createContent(input: $input) { id name } }';
const LIST = '{ contents(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { content(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's contents: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createContent.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.contents': async ({ b, data }) => {
      expect((await data(b, LIST)).contents).toEqual([]);
    },
    'Query.content': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).content).toBeNull();
    },
    'Mutation.createContent': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createContent.name).toBe('Tenant B');
    },
  },
  entities: { Content: { selection: '... on Content { id name createdAt }', id: ({ id }) => id } },
});
