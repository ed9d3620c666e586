import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const USAGE = '{ aiUsage(first: 100) { id provider model costUsd } }';
const COMPLETE = 'mutation ($input: CompletionInput!) { complete(input: $input) { text } }';
const STREAM = 'subscription ($input: CompletionInput!) { completionStream(input: $input) { delta } }';
const input = { messages: [{ role: 'USER', content: 'What did tenant A ask?' }] };
const SAVE_PROMPT = 'mutation ($input: SavePromptTemplateInput!) { savePromptTemplate(input: $input) { version } }';
const PROMPT_TEMPLATES = '{ promptTemplates { name version user versions { version } } }';
const promptOfA = { name: 'tenant-a-escalation', system: '', user: 'Escalate {{ticket}} to A', variables: ['ticket'] };

/**
 * Tenant B (a stranger) never sees tenant A's AI usage, nor adds to it. The isolation stack configures no provider, so a
 * completion is refused for want of one (SERVICE_UNAVAILABLE) before it could be counted for anyone; the routing, limits
 * and usage of real completions are proven per tenant in ai.test.ts. Run by test/integration/tenant-isolation.test.ts.
 */
export const isolationCases = defineIsolationCases({
  // Tenant A's OWNER saves two versions of a prompt template: tenant B must neither see nor number after them.
  setUp: async ({ a, data }) => {
    for (let saves = 0; saves < 2; saves += 1) await data(a, SAVE_PROMPT, { input: promptOfA });
    return {};
  },
  stateOfA: async ({ a, data }) => ({ usage: await data(a, USAGE), prompts: await data(a, PROMPT_TEMPLATES) }),
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
    // A suggestion reads nothing of any tenant's: it is a model's draft, checked by the workflows service's validation.
    'Mutation.suggestWorkflowSteps': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { suggestWorkflowSteps(goal: "Copy tenant A\'s workflows") { __typename } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Query.promptTemplates': async ({ b, data }) => {
      const promptTemplates = (await data(b, PROMPT_TEMPLATES)).promptTemplates as { user: string }[];
      expect(promptTemplates.map((template) => template.user)).not.toContain(promptOfA.user);
      expect(promptTemplates).toContainEqual(expect.objectContaining({ name: 'summarize', version: 0, versions: [{ version: 0 }] }));
    },
    'Mutation.savePromptTemplate': async ({ b, data }) => {
      const promptOfB = { ...promptOfA, user: 'Escalate {{ticket}} to B' };
      expect((await data(b, SAVE_PROMPT, { input: promptOfB })).savePromptTemplate).toEqual({ version: 1 });
    },
    // The features are refused for want of a provider before any template or text is read; that a tenant's features use
    // its own templates only is proven with providers in prompts.test.ts.
    'Mutation.summarize': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { summarize(text: "A", prompt: { name: "tenant-a-escalation" }) { text } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Mutation.classify': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { classify(text: "A", labels: ["a", "b"]) { label } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Mutation.extract': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { extract(text: "A", schema: { type: "object" }) { data } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Mutation.analyzeSentiment': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { analyzeSentiment(text: "A") { sentiment } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Mutation.generateEmail': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { generateEmail(input: { purpose: "A", tone: FORMAL, keyPoints: [] }) { subject } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Subscription.completionStream': async ({ b, subscribe }) => {
      const refusal = await subscribe(b, STREAM, { input }).next();
      expect(refusal.value).toMatchObject({ errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
    },
  },
  entities: {},
});
