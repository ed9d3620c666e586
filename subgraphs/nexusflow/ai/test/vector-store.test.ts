import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageModes } from '@nexusflow/kit/testing';
import { detectPostgresRanking, PineconeVectorStore, PostgresVectorStore, type VectorStore } from '../src/vector-store/index.ts';
import { FakePinecone } from './support/fake-pinecone.ts';
import { openAiDatabase } from './support/vector-databases.ts';
import { itBehavesAsAVectorStore, pseudoRandomVectors } from './support/vector-corpus.ts';

describe.each(storageModes(['postgres']))('the PostgreSQL vector store on $storage', ({ mode }) => {
  let opened: Awaited<ReturnType<typeof openAiDatabase>>;
  let store: PostgresVectorStore;

  beforeAll(async () => {
    opened = await openAiDatabase(mode, 'vector_store');
    store = new PostgresVectorStore(opened.database, await detectPostgresRanking(opened.database));
  });

  afterAll(async () => {
    await opened?.close();
  });

  it('ranks with pgvector on embedded storage, which loads it, and exactly on the PostgreSQL here, which lacks it', () => {
    expect(store.kind).toBe(mode === 'embedded' ? 'pgvector' : 'exact');
  });

  itBehavesAsAVectorStore(() => store);

  it('ranks 300 pseudo-random chunks in the same order with pgvector as with exact cosine similarity', async () => {
    const tenantId = randomUUID();
    const vectors = pseudoRandomVectors(301, 8);
    const documentId = randomUUID();
    await store.upsert(
      tenantId,
      vectors.slice(1).map((vector, ordinal) => ({ documentId, ordinal, text: `chunk ${ordinal}`, vector, metadata: {} })),
    );
    const exact = await new PostgresVectorStore(opened.database, 'exact').query(tenantId, vectors[0]!, 300);
    expect(exact).toHaveLength(300);
    if (store.kind === 'pgvector') {
      const pgvector = await store.query(tenantId, vectors[0]!, 300);
      expect(pgvector.map((match) => match.ordinal)).toEqual(exact.map((match) => match.ordinal));
      pgvector.forEach((match, index) => expect(match.score).toBeCloseTo(exact[index]!.score, 5));
    }
    // The same order as cosine similarity computed here, in double precision, from scratch.
    const cosine = (a: number[], b: number[]) => {
      const dot = a.reduce((sum, value, i) => sum + value * b[i]!, 0);
      return dot / Math.sqrt(a.reduce((s, v) => s + v * v, 0) * b.reduce((s, v) => s + v * v, 0));
    };
    const expected = vectors
      .slice(1)
      .map((vector, ordinal) => ({ ordinal, score: cosine(vector, vectors[0]!) }))
      .sort((a, b) => b.score - a.score);
    expect(exact.map((match) => match.ordinal)).toEqual(expected.map((match) => match.ordinal));
  });
});

describe('the Pinecone vector store, against a fake Pinecone index', () => {
  const fake = new FakePinecone('pinecone-test-key');
  let store: VectorStore;

  beforeAll(async () => {
    await fake.start();
    store = new PineconeVectorStore({ apiKey: 'pinecone-test-key', indexHost: fake.url });
  });

  afterAll(async () => {
    await fake.close();
  });

  itBehavesAsAVectorStore(() => store);

  it("keeps each tenant's chunks in a namespace of its own", async () => {
    const tenantId = randomUUID();
    await store.upsert(tenantId, [{ documentId: randomUUID(), ordinal: 0, text: 'mine', vector: [1, 0], metadata: {} }]);
    expect([...(fake.namespaces.get(`tenant-${tenantId}`)?.values() ?? [])].map((stored) => stored.metadata._text)).toEqual(['mine']);
  });
});
