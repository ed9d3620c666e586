import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { ChunkToStore, Metadata, VectorStore } from '../../src/vector-store/index.ts';

/** Eight dimensions, chosen so that each document's cosine similarity to {@link QUERY} is known by hand. */
export const QUERY = [2, 0, 0, 0, 0, 0, 0, 0];

interface CorpusDocument {
  name: string;
  vector: number[];
  metadata: Metadata;
  /** cos(vector, QUERY). */
  similarity: number;
}

export const CORPUS: CorpusDocument[] = [
  { name: 'same direction', vector: [1, 0, 0, 0, 0, 0, 0, 0], metadata: { kind: 'guide', lang: 'en' }, similarity: 1 },
  { name: 'close', vector: [3, 1, 0, 0, 0, 0, 0, 0], metadata: { kind: 'faq', lang: 'en' }, similarity: 3 / Math.sqrt(10) },
  { name: 'diagonal', vector: [1, 1, 0, 0, 0, 0, 0, 0], metadata: { kind: 'guide', lang: 'de' }, similarity: Math.SQRT1_2 },
  { name: 'far', vector: [1, 3, 0, 0, 0, 0, 0, 0], metadata: { kind: 'faq', lang: 'de' }, similarity: 1 / Math.sqrt(10) },
  { name: 'orthogonal', vector: [0, 0, 0, 0, 1, 0, 0, 0], metadata: { kind: 'guide', lang: 'en', pinned: true }, similarity: 0 },
  { name: 'opposite', vector: [-1, 0, 0, 0, 0, 0, 0, 1], metadata: { kind: 'faq', lang: 'en', year: 2024 }, similarity: -Math.SQRT1_2 },
];

/** Stores the corpus for one tenant, one single-chunk document each; returns the document ids by name. */
export async function storeCorpus(store: VectorStore, tenantId: string): Promise<Map<string, string>> {
  const ids = new Map(CORPUS.map((document) => [document.name, randomUUID()]));
  await store.upsert(tenantId, corpusChunks(ids));
  return ids;
}

export function corpusChunks(ids: Map<string, string>): ChunkToStore[] {
  return CORPUS.map((document) => ({
    documentId: ids.get(document.name)!,
    ordinal: 0,
    text: `The ${document.name} document`,
    vector: document.vector,
    metadata: document.metadata,
  }));
}

/** A deterministic pseudo-random corpus (a linear congruential generator), for comparing two rankings on many vectors. */
export function pseudoRandomVectors(count: number, dimensions: number, seed = 42): number[][] {
  let state = seed;
  const next = () => {
    state = (state * 1664525 + 1013904223) % 2 ** 32;
    return state / 2 ** 32 - 0.5;
  };
  return Array.from({ length: count }, () => Array.from({ length: dimensions }, next));
}

/** What every vector store must do, whichever engine ranks: the same corpus, the same expected order. */
export function itBehavesAsAVectorStore(store: () => VectorStore): void {
  const names = (matches: { documentId: string }[], ids: Map<string, string>) => {
    const byId = new Map([...ids].map(([name, id]) => [id, name]));
    return matches.map((match) => byId.get(match.documentId));
  };

  it('ranks the corpus by cosine similarity to the query, nearest first, with the similarity as score', async () => {
    const tenantId = randomUUID();
    const ids = await storeCorpus(store(), tenantId);
    const matches = await store().query(tenantId, QUERY, 10);
    expect(names(matches, ids)).toEqual(CORPUS.map((document) => document.name));
    matches.forEach((match, index) => expect(match.score).toBeCloseTo(CORPUS[index]!.similarity, 5));
    expect(matches[0]).toMatchObject({ ordinal: 0, text: 'The same direction document', metadata: { kind: 'guide', lang: 'en' } });
  });

  it('returns only the topK nearest', async () => {
    const tenantId = randomUUID();
    const ids = await storeCorpus(store(), tenantId);
    expect(names(await store().query(tenantId, QUERY, 2), ids)).toEqual(['same direction', 'close']);
  });

  it('keeps only chunks whose metadata has every value of the filter, in the same order', async () => {
    const tenantId = randomUUID();
    const ids = await storeCorpus(store(), tenantId);
    expect(names(await store().query(tenantId, QUERY, 10, { kind: 'guide' }), ids)).toEqual(['same direction', 'diagonal', 'orthogonal']);
    expect(names(await store().query(tenantId, QUERY, 10, { kind: 'faq', lang: 'en' }), ids)).toEqual(['close', 'opposite']);
    expect(names(await store().query(tenantId, QUERY, 10, { pinned: true }), ids)).toEqual(['orthogonal']);
    expect(names(await store().query(tenantId, QUERY, 10, { year: 2024 }), ids)).toEqual(['opposite']);
    expect(await store().query(tenantId, QUERY, 10, { kind: 'nothing has this' })).toEqual([]);
  });

  it("never shows a tenant another tenant's chunks, nor lets it delete them", async () => {
    const [tenantA, tenantB] = [randomUUID(), randomUUID()];
    const ids = await storeCorpus(store(), tenantA);
    expect(await store().query(tenantB, QUERY, 10)).toEqual([]);
    await store().deleteDocument(tenantB, ids.get('same direction')!);
    expect(names(await store().query(tenantA, QUERY, 1), ids)).toEqual(['same direction']);
  });

  it("deletes a document's chunks and only those", async () => {
    const tenantId = randomUUID();
    const ids = await storeCorpus(store(), tenantId);
    await store().deleteDocument(tenantId, ids.get('same direction')!);
    expect(names(await store().query(tenantId, QUERY, 10), ids)).toEqual(CORPUS.slice(1).map((document) => document.name));
  });

  it('keeps one copy of a chunk stored twice, with what was written last', async () => {
    const tenantId = randomUUID();
    const ids = await storeCorpus(store(), tenantId);
    const again = corpusChunks(ids).map((chunk) => ({ ...chunk, text: `${chunk.text}, revised` }));
    await store().upsert(tenantId, again);
    const matches = await store().query(tenantId, QUERY, 100);
    expect(names(matches, ids)).toEqual(CORPUS.map((document) => document.name));
    expect(matches[0]!.text).toBe('The same direction document, revised');
  });

  it('refuses a zero vector, whose cosine similarity is undefined', async () => {
    await expect(store().query(randomUUID(), [0, 0, 0, 0, 0, 0, 0, 0], 5)).rejects.toThrow(RangeError);
  });
}
