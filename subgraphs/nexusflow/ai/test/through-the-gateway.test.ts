import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Role } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';
import { answerWith, answerWords, FakeLlmProviders, serverError } from './support/fake-llm-providers.ts';

const COMPLETE = 'mutation ($input: CompletionInput!) { complete(input: $input) { text model provider inputTokens outputTokens costUsd } }';
const STREAM = 'subscription ($input: CompletionInput!) { completionStream(input: $input) { delta completion { text model provider } } }';
const MODELS = '{ models { id provider status } }';
const USAGE = '{ aiUsage(first: 10) { provider model succeeded inputTokens outputTokens } }';

const hello = { messages: [{ role: 'USER', content: 'Say hello' }] };
const INDEX = 'mutation ($input: IndexDocumentInput!) { indexDocument(input: $input) { id title chunkCount } }';
const REMOVE = 'mutation ($id: ID!) { removeDocument(id: $id) { __typename ... on DocumentNotFound { id } } }';
const SEARCH =
  'query ($query: String!, $filter: JSON) { search(query: $query, topK: 2, filter: $filter) { text score document { id title } } }';
const EMBED = 'mutation ($texts: [String!]!) { embed(texts: $texts) { model vectors } }';
const SAVE_PROMPT = 'mutation ($input: SavePromptTemplateInput!) { savePromptTemplate(input: $input) { name version builtIn } }';
const PROMPT_TEMPLATES = '{ promptTemplates { name version versions { version } } }';
const FROM_PROMPT = `mutation ($text: String!, $labels: [String!]!, $schema: JSON!, $email: GenerateEmailInput!) {
  summarize(text: $text, maxWords: 20) { text completion { promptName promptVersion } }
  classify(text: $text, labels: $labels) { label confidence completion { promptName promptVersion } }
  extract(text: $text, schema: $schema) { data completion { promptName promptVersion } }
  analyzeSentiment(text: $text) { sentiment score completion { promptName promptVersion } }
  generateEmail(input: $email) { subject body completion { promptName promptVersion } }
}`;

describe('the ai subgraph through the nexusflow gateway', () => {
  let graph: GraphUnderTest;
  let fake: FakeLlmProviders;
  const clients: Client[] = [];

  beforeAll(async () => {
    fake = await FakeLlmProviders.start();
    graph = await startGraphUnderTest('nexusflow', ['ai'], {
      label: 'ai_gateway',
      settings: { ai: { ...fake.environment, AI_RETRY_BASE_MS: '1' } },
    });
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await graph?.close();
    await fake?.close();
  });

  const tokenFor = (roles: Role[], tenantId: string) => graph.tokenFor({ kind: 'user', userId: randomUUID(), tenantId, roles });
  const send = async (roles: Role[], tenantId: string, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, { token: await tokenFor(roles, tenantId), variables });

  it('streams a completion over WebSocket, token by token in order, then its summary', async () => {
    const client = createClient({
      url: graph.gateway.graphqlUrl.replace('http://', 'ws://'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${await tokenFor([Role.Member], randomUUID())}` },
      retryAttempts: 0,
    });
    clients.push(client);
    const events: { delta: string; completion: unknown }[] = [];
    for await (const result of client.iterate<{ completionStream: { delta: string; completion: unknown } }>({
      query: STREAM,
      variables: { input: hello },
    })) {
      expect(result.errors).toBeUndefined();
      events.push(result.data!.completionStream);
    }
    expect(events.slice(0, -1).map((event) => event.delta)).toEqual(answerWords('openai'));
    expect(events.at(-1)).toEqual({
      delta: '',
      completion: { text: answerWords('openai').join(''), model: 'gpt-4o', provider: 'OPENAI' },
    });
  });

  it('completes, falls back to Anthropic with no error when OpenAI fails, and shows the owner both attempts', async () => {
    const tenantId = randomUUID();
    const answered = await send([Role.Member], tenantId, COMPLETE, { input: hello });
    expect(answered.data?.complete).toMatchObject({ text: answerWords('openai').join(''), provider: 'OPENAI', model: 'gpt-4o' });

    fake.failAlways('openai', serverError);
    try {
      const fellBack = await send([Role.Member], tenantId, COMPLETE, { input: { ...hello, model: 'gpt-4o' } });
      expect(fellBack.errors).toBeUndefined();
      expect(fellBack.data?.complete).toMatchObject({ provider: 'ANTHROPIC', model: 'claude-sonnet-4-6' });
    } finally {
      fake.recover('openai');
    }
    const usage = (await send([Role.Owner], tenantId, USAGE)).data?.aiUsage;
    expect(usage).toHaveLength(3);
    expect(usage).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ provider: 'OPENAI', succeeded: true }),
        expect.objectContaining({ provider: 'OPENAI', succeeded: false, inputTokens: 0 }),
        expect.objectContaining({ provider: 'ANTHROPIC', model: 'claude-sonnet-4-6', succeeded: true }),
      ]),
    );
  });

  it('lists the models with their live status to a VIEWER', async () => {
    const models = (await send([Role.Viewer], randomUUID(), MODELS)).data?.models;
    expect(models).toContainEqual({ id: 'gpt-4o-mini', provider: 'OPENAI', status: 'HEALTHY' });
    expect(models).toContainEqual(expect.objectContaining({ id: 'claude-sonnet-4-6', provider: 'ANTHROPIC' }));
  });

  it("refuses a VIEWER's completion and a MEMBER's usage with FORBIDDEN, and a caller without a token with UNAUTHENTICATED", async () => {
    const before = fake.received.length;
    const refused = await send([Role.Viewer], randomUUID(), COMPLETE, { input: hello });
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expect((await send([Role.Member], randomUUID(), USAGE)).errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    const anonymous = await postGraphQL(graph.gateway.graphqlUrl, COMPLETE, { variables: { input: hello } });
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    expect(fake.received).toHaveLength(before);
  });

  it('indexes documents, finds the right one by meaning, and removes it from search', async () => {
    const tenantId = randomUUID();
    const texts = ['Invoices are due within thirty days of the first working day.', 'Report a lost laptop to the security desk at once.'];
    const ids: string[] = [];
    for (const [index, text] of texts.entries()) {
      const indexed = await send([Role.Member], tenantId, INDEX, { input: { title: `Policy ${index}`, text, metadata: { index } } });
      expect(indexed.errors).toBeUndefined();
      ids.push(indexed.data!.indexDocument.id as string);
    }
    const found = (await send([Role.Viewer], tenantId, SEARCH, { query: 'Report a lost laptop to the security desk at once.' })).data
      ?.search;
    expect(found?.[0]).toMatchObject({ document: { id: ids[1], title: 'Policy 1' } });
    const documentIds = (hits: { document: { id: string } }[] | undefined) => hits?.map((hit) => hit.document.id);
    const filtered = (await send([Role.Viewer], tenantId, SEARCH, { query: 'laptop', filter: { index: 0 } })).data?.search;
    expect(documentIds(filtered)).toEqual([ids[0]]);
    expect((await send([Role.Member], tenantId, REMOVE, { id: ids[1] })).data).toEqual({ removeDocument: { __typename: 'Document' } });
    const after = (await send([Role.Viewer], tenantId, SEARCH, { query: 'laptop' })).data?.search;
    expect(documentIds(after)).toEqual([ids[0]]);
    expect((await send([Role.Member], randomUUID(), SEARCH, { query: 'laptop' })).data).toEqual({ search: [] });
  });

  it('saves a prompt template as an ADMIN, lists it with its versions, and refuses a MEMBER with FORBIDDEN', async () => {
    const tenantId = randomUUID();
    const template = { name: 'summarize', system: 'Be terse.', user: '{{text}} in {{maxWords}} words', variables: ['text', 'maxWords'] };
    const saved = await send([Role.Admin], tenantId, SAVE_PROMPT, { input: template });
    expect(saved.data?.savePromptTemplate).toEqual({ name: 'summarize', version: 1, builtIn: false });
    const refused = await send([Role.Member], tenantId, SAVE_PROMPT, { input: template });
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    const listed = (await send([Role.Viewer], tenantId, PROMPT_TEMPLATES)).data?.promptTemplates;
    expect(listed).toContainEqual({ name: 'summarize', version: 1, versions: [{ version: 1 }, { version: 0 }] });
    expect(listed).toContainEqual({ name: 'classify', version: 0, versions: [{ version: 0 }] });
  });

  it("answers a MEMBER's summary, label, extraction, sentiment and email, each recording the prompt that made it", async () => {
    fake.script(
      'openai',
      answerWith('Payment is late.'),
      answerWith('{"label": "Billing", "confidence": 0.9}'),
      answerWith('{"invoice": "INV-2041"}'),
      answerWith('{"sentiment": "NEGATIVE", "score": -0.4}'),
      answerWith('{"subject": "INV-2041", "body": "Please pay."}'),
    );
    const answered = await send([Role.Member], randomUUID(), FROM_PROMPT, {
      text: 'Invoice INV-2041 is two weeks late.',
      labels: ['Billing', 'Sales'],
      schema: { type: 'object', properties: { invoice: { type: 'string' } }, required: ['invoice'] },
      email: { purpose: 'Ask for payment', tone: 'FORMAL', keyPoints: ['Two weeks late'] },
    });
    expect(answered.errors).toBeUndefined();
    const made = (promptName: string) => ({ completion: { promptName, promptVersion: 0 } });
    expect(answered.data).toEqual({
      summarize: { text: 'Payment is late.', ...made('summarize') },
      classify: { label: 'Billing', confidence: 0.9, ...made('classify') },
      extract: { data: { invoice: 'INV-2041' }, ...made('extract') },
      analyzeSentiment: { sentiment: 'NEGATIVE', score: -0.4, ...made('analyze-sentiment') },
      generateEmail: { subject: 'INV-2041', body: 'Please pay.', ...made('generate-email') },
    });
  });

  it("embeds a MEMBER's texts, and refuses a VIEWER's indexing and embedding with FORBIDDEN", async () => {
    const embedded = (await send([Role.Member], randomUUID(), EMBED, { texts: ['one', 'two'] })).data?.embed;
    expect(embedded).toMatchObject({ model: 'text-embedding-3-small', vectors: [expect.any(Array), expect.any(Array)] });
    const codes = async (query: string, variables: Record<string, unknown>) =>
      (await send([Role.Viewer], randomUUID(), query, variables)).errors?.map((error) => error.extensions?.code);
    expect(await codes(INDEX, { input: { title: 'No', text: 'Not allowed' } })).toEqual(['FORBIDDEN']);
    expect(await codes(EMBED, { texts: ['no'] })).toEqual(['FORBIDDEN']);
  });
});
