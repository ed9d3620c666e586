import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import {
  createTempDirectory,
  createTestDatabase,
  postGraphQL,
  startSubgraphUnderTest,
  storageModes,
  testEnvironment,
} from '@nexusflow/kit/testing';
import type { AiServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';
import { FakeLlmProviders } from './support/fake-llm-providers.ts';
import { FakePinecone } from './support/fake-pinecone.ts';

const DOCUMENT = 'id externalId title metadata chunkCount model createdAt';
const INDEX = `mutation ($input: IndexDocumentInput!) { indexDocument(input: $input) { ${DOCUMENT} } }`;
const REMOVE = `mutation ($id: ID!) { removeDocument(id: $id) { __typename ... on Document { id } ... on DocumentNotFound { message id } } }`;
const SEARCH = `query ($query: String!, $topK: Int, $filter: JSON) {
  search(query: $query, topK: $topK, filter: $filter) { ordinal text score document { id title externalId metadata } }
}`;
const EMBED = 'mutation ($texts: [String!]!) { embed(texts: $texts) { model vectors tokens } }';

const user = (tenantId: string, roles = [Role.Member]): Extract<Identity, { kind: 'user' }> => ({
  kind: 'user',
  userId: randomUUID(),
  tenantId,
  roles,
});

type Hit = {
  ordinal: number;
  text: string;
  score: number;
  document: { id: string; title: string; externalId: string | null; metadata: Record<string, unknown> };
};

const TEXTS = {
  invoices: 'Invoices are sent on the first working day of each month and are due within thirty days.',
  holidays: 'Every employee has twenty-five days of paid holiday a year, booked through the HR portal.',
  security: 'Report a lost laptop to the security desk at once so that its disk keys can be revoked.',
};

/** The ai subgraph with OpenAI pointed at a local fake (whose embedding of a text is derived from its characters). */
async function startAi(mode: 'embedded' | 'postgres', extra: Record<string, string> = {}) {
  const cleanups: (() => Promise<void>)[] = [];
  const fake = await FakeLlmProviders.start();
  cleanups.push(() => fake.close());
  const dataDir = await createTempDirectory(`ai-documents-${mode}`);
  cleanups.push(dataDir.remove);
  const env: Record<string, string> = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', ...fake.environment, ...extra };
  if (mode === 'postgres') {
    const database = await createTestDatabase(testEnvironment.postgresUrl!, 'ai_documents');
    cleanups.push(database.drop);
    env.DATABASE_URL = database.url;
  }
  const ai: RunningSubgraph<AiServices> = await subgraph.start(env);
  cleanups.push(() => ai.close());
  const ask = <T = Record<string, any>>(identity: Identity, query: string, variables: Record<string, unknown> = {}) =>
    postGraphQL<T>(ai.graphqlUrl, query, { variables, headers: signIdentity(identity, ai.config.internalSecret) });
  return {
    fake,
    ai,
    ask,
    close: async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}

type Started = Awaited<ReturnType<typeof startAi>>;

/** The behaviour of indexing and search, whichever store holds the chunks. */
function itIndexesAndSearches(started: () => Started) {
  const index = async (identity: Identity, input: Record<string, unknown>) => {
    const response = await started().ask<{ indexDocument: { id: string; chunkCount: number } }>(identity, INDEX, { input });
    expect(response.errors).toBeUndefined();
    return response.data!.indexDocument;
  };
  const search = async (identity: Identity, variables: Record<string, unknown>) => {
    const response = await started().ask<{ search: Hit[] }>(identity, SEARCH, variables);
    expect(response.errors).toBeUndefined();
    return response.data!.search;
  };
  const indexAll = async (member: Identity) => ({
    invoices: await index(member, { title: 'Invoicing', text: TEXTS.invoices, metadata: { team: 'finance' } }),
    holidays: await index(member, { title: 'Holidays', text: TEXTS.holidays, metadata: { team: 'people' } }),
    security: await index(member, { title: 'Lost devices', text: TEXTS.security, metadata: { team: 'it', urgent: true } }),
  });

  it('indexes documents and finds the one a query means first, with its score and document', async () => {
    const member = user(randomUUID());
    const ids = await indexAll(member);
    expect(ids.invoices).toMatchObject({ chunkCount: 1 });
    const hits = await search(user(member.tenantId, [Role.Viewer]), { query: TEXTS.holidays, topK: 3 });
    expect(hits.map((hit) => hit.document.id)).toHaveLength(3);
    expect(hits[0]).toMatchObject({
      ordinal: 0,
      text: TEXTS.holidays,
      document: { id: ids.holidays.id, title: 'Holidays', metadata: { team: 'people' } },
    });
    expect(hits[0]!.score).toBeCloseTo(1, 5);
    expect(hits[1]!.score).toBeLessThan(hits[0]!.score);
    expect(await search(member, { query: TEXTS.security, topK: 1 })).toMatchObject([{ document: { id: ids.security.id } }]);
  });

  it('keeps only chunks whose document metadata has every value of the filter', async () => {
    const member = user(randomUUID());
    const ids = await indexAll(member);
    const hits = await search(member, { query: TEXTS.holidays, topK: 5, filter: { urgent: true } });
    expect(hits.map((hit) => hit.document.id)).toEqual([ids.security.id]);
    expect(await search(member, { query: TEXTS.holidays, topK: 5, filter: { team: 'nobody' } })).toEqual([]);
  });

  it('replaces a document indexed again under the same externalId, leaving no old chunk behind', async () => {
    const member = user(randomUUID());
    const first = await index(member, { externalId: 'handbook/holidays.md', title: 'Holidays', text: TEXTS.holidays });
    const second = await index(member, { externalId: 'handbook/holidays.md', title: 'Holidays, revised', text: TEXTS.invoices });
    expect(second.id).toBe(first.id);
    const hits = await search(member, { query: TEXTS.holidays, topK: 5 });
    expect(hits.map((hit) => [hit.document.title, hit.text])).toEqual([['Holidays, revised', TEXTS.invoices]]);
  });

  it('removes a document from search, and answers a second removal with DocumentNotFound', async () => {
    const member = user(randomUUID());
    const ids = await indexAll(member);
    const removed = await started().ask(member, REMOVE, { id: ids.holidays.id });
    expect(removed.data).toEqual({ removeDocument: { __typename: 'Document', id: ids.holidays.id } });
    const hits = await search(member, { query: TEXTS.holidays, topK: 5 });
    expect(hits.map((hit) => hit.document.id).sort()).toEqual([ids.invoices.id, ids.security.id].sort());
    const again = await started().ask(member, REMOVE, { id: ids.holidays.id });
    expect(again.data?.removeDocument).toMatchObject({ __typename: 'DocumentNotFound', id: ids.holidays.id });
  });

  it("never shows a tenant another tenant's documents, nor lets it remove them", async () => {
    const [memberA, memberB] = [user(randomUUID()), user(randomUUID())];
    const ids = await indexAll(memberA);
    expect(await search(memberB, { query: TEXTS.holidays, topK: 5 })).toEqual([]);
    const removed = await started().ask(memberB, REMOVE, { id: ids.holidays.id });
    expect(removed.data?.removeDocument).toMatchObject({ __typename: 'DocumentNotFound' });
    expect((await search(memberA, { query: TEXTS.holidays, topK: 1 }))[0]!.document.id).toBe(ids.holidays.id);
  });
}

describe('indexing documents and searching them', () => {
  describe.each(storageModes(['postgres']))('in PostgreSQL on $storage', ({ mode }) => {
    let started: Started;

    beforeAll(async () => {
      started = await startAi(mode);
    });

    afterAll(async () => {
      await started?.close();
    });

    itIndexesAndSearches(() => started);

    it('cuts a long text into chunks, embedded in requests that stay under the per-request token limit', async () => {
      const member = user(randomUUID());
      const text = Array.from({ length: 2500 }, (_, index) => `Paragraph ${index} explains one more rule of the handbook.`).join(' ');
      const before = started.fake.requestsTo('openai').length;
      const document = (await started.ask<{ indexDocument: { chunkCount: number } }>(member, INDEX, { input: { title: 'Handbook', text } }))
        .data!.indexDocument;
      expect(document.chunkCount).toBeGreaterThan(40);
      const requests = started.fake.requestsTo('openai').slice(before);
      expect(requests.length).toBeGreaterThan(1);
      expect(requests.flatMap((request) => request.body.input as string[])).toHaveLength(document.chunkCount);
      const hits = (await started.ask<{ search: Hit[] }>(member, SEARCH, { query: 'Paragraph 1234 explains', topK: 50 })).data!.search;
      expect(new Set(hits.map((hit) => hit.ordinal)).size).toBe(hits.length);
    });

    it("embeds texts for a MEMBER, one vector each in the texts' order", async () => {
      const response = await started.ask<{ embed: { model: string; vectors: number[][]; tokens: number } }>(user(randomUUID()), EMBED, {
        texts: ['first', 'second text'],
      });
      expect(response.data?.embed).toMatchObject({ model: 'text-embedding-3-small', tokens: 3 });
      expect(response.data?.embed.vectors).toHaveLength(2);
      expect(response.data?.embed.vectors[0]).toHaveLength(8);
    });

    it('refuses a VIEWER indexing, removing or embedding with FORBIDDEN, and an anonymous search with UNAUTHENTICATED', async () => {
      const viewer = user(randomUUID(), [Role.Viewer]);
      const codes = async (query: string, variables: Record<string, unknown>, identity: Identity = viewer) =>
        (await started.ask(identity, query, variables)).errors?.map((error) => error.extensions?.code);
      expect(await codes(INDEX, { input: { title: 'No', text: 'Not allowed' } })).toEqual(['FORBIDDEN']);
      expect(await codes(REMOVE, { id: randomUUID() })).toEqual(['FORBIDDEN']);
      expect(await codes(EMBED, { texts: ['no'] })).toEqual(['FORBIDDEN']);
      expect(await codes(SEARCH, { query: 'anything' }, { kind: 'anonymous' })).toEqual(['UNAUTHENTICATED']);
    });

    it('answers a blank title, nested or reserved metadata and a topK out of range with BAD_USER_INPUT naming the field', async () => {
      const member = user(randomUUID());
      const problem = async (query: string, variables: Record<string, unknown>) =>
        (await started.ask(member, query, variables)).errors?.[0];
      expect(await problem(INDEX, { input: { title: ' ', text: 'Some text' } })).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'title' },
      });
      expect(await problem(INDEX, { input: { title: 'T', text: 'Some text', metadata: { nested: { no: 1 } } } })).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'metadata.nested' },
      });
      expect(await problem(INDEX, { input: { title: 'T', text: 'Some text', metadata: { _document: 'x' } } })).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'metadata' },
      });
      expect(await problem(SEARCH, { query: 'q', topK: 0 })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'topK' } });
      expect(await problem(EMBED, { texts: [] })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'texts' } });
    });
  });

  describe('in Pinecone (a local fake of its data plane)', () => {
    const pinecone = new FakePinecone('pinecone-test-key');
    let started: Started;

    beforeAll(async () => {
      await pinecone.start();
      started = await startAi('embedded', { PINECONE_API_KEY: 'pinecone-test-key', PINECONE_INDEX_HOST: pinecone.url });
    });

    afterAll(async () => {
      await started?.close();
      await pinecone.close();
    });

    itIndexesAndSearches(() => started);

    it("keeps the chunks in Pinecone, in the tenant's namespace, and none in PostgreSQL", async () => {
      const member = user(randomUUID());
      await started.ask(member, INDEX, { input: { title: 'Invoicing', text: TEXTS.invoices } });
      expect(pinecone.namespaces.get(`tenant-${member.tenantId}`)?.size).toBe(1);
      const rows = await started.ai.database
        .fork()
        .getConnection()
        .execute<{ count: string }[]>('select count(*) as "count" from "document_chunks"');
      expect(Number(rows[0]!.count)).toBe(0);
    });
  });
});

describe('indexing documents without a provider configured', () => {
  let under: Awaited<ReturnType<typeof startSubgraphUnderTest<AiServices>>>;

  beforeAll(async () => {
    under = await startSubgraphUnderTest('ai-documents-no-provider', (env) => subgraph.start(env));
  });

  afterAll(async () => {
    await under?.close();
  });

  it('answers SERVICE_UNAVAILABLE and stores nothing', async () => {
    const member = user(randomUUID());
    const refused = await under.ask(member, INDEX, { input: { title: 'Invoicing', text: TEXTS.invoices } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect((await under.ask(member, SEARCH, { query: 'Invoicing' })).errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
  });
});
