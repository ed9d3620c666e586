import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const USAGE = '{ aiUsage(first: 100) { id provider model costUsd } }';
const COMPLETE = 'mutation ($input: CompletionInput!) { complete(input: $input) { text } }';
const STREAM = 'subscription ($input: CompletionInput!) { completionStream(input: $input) { delta } }';
const input = { messages: [{ role: 'USER', content: 'What did tenant A ask?' }] };

/**
 * Tenant B (a stranger) never sees tenant A's AI usage, nor adds to it. The isolation stack configures no provider, so a
 * completion is refused for want of one (SERVICE_UNAVAILABLE) before it could be counted for anyone; the routing, limits
 * and usage of real completions are proven per tenant in ai.test.ts. Run by test/integration/tenant-isolation.test.ts.
 */
export const isolationCases = defineIsolationCases({
  setUp: async () => ({}),
  stateOfA: ({ a, data }) => data(a, USAGE),
  root: {
    'Query.aiUsage': async ({ b, data }) => {
      expect((await data(b, USAGE)).aiUsage).toEqual([]);
    },
    'Query.models': async ({ b, data }) => {
      // The catalogue is the deployment's, the same for every tenant: nothing of tenant A's is in it.
      expect((await data(b, '{ models { id } }')).models).toContainEqual({ id: 'gpt-4o' });
    },
    'Mutation.complete': async ({ b, ask }) => {
      const refused = await ask(b, COMPLETE, { input });
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    // Document search needs embeddings, so without a provider nothing is indexed or searched; that a tenant never sees
    // another's documents is proven with providers in documents.test.ts and through-the-gateway.test.ts.
    'Query.search': async ({ b, ask }) => {
      const refused = await ask(b, '{ search(query: "What did tenant A index?") { text } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Mutation.embed': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { embed(texts: ["tenant A"]) { vectors } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Mutation.indexDocument': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { indexDocument(input: { title: "B", text: "Tenant B" }) { id } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Mutation.removeDocument': async ({ b, data }) => {
      const removed = await data(b, 'mutation ($id: ID!) { removeDocument(id: $id) { __typename } }', { id: randomUUID() });
      expect(removed.removeDocument).toEqual({ __typename: 'DocumentNotFound' });
    },
    'Subscription.completionStream': async ({ b, subscribe }) => {
      const refusal = await subscribe(b, STREAM, { input }).next();
      expect(refusal.value).toMatchObject({ errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
    },
  },
  entities: {},
});
