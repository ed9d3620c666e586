import { createHash } from 'node:crypto';

/** Metadata of a document and its chunks: flat, scalar values, which every store can filter on (Pinecone allows no nesting). */
export type Metadata = Record<string, string | number | boolean>;

/** Chunks whose metadata has every one of these values; `{}` matches every chunk. */
export type MetadataFilter = Metadata;

export interface ChunkToStore {
  documentId: string;
  /** The chunk's place in its document, from 0. */
  ordinal: number;
  text: string;
  vector: number[];
  metadata: Metadata;
}

export interface ChunkMatch {
  id: string;
  documentId: string;
  ordinal: number;
  text: string;
  metadata: Metadata;
  /** Cosine similarity to the query, in [-1, 1]: higher is nearer. */
  score: number;
}

/** How a store ranks, as logs, metrics and the README name it. */
export type VectorStoreKind = 'pgvector' | 'exact' | 'pinecone';

/**
 * Chunks of documents with their embeddings, per tenant: a tenant's queries and deletions never reach another's chunks.
 * Every implementation ranks by cosine similarity, best first, ties broken by chunk id, so that they agree on an order.
 */
export interface VectorStore {
  readonly kind: VectorStoreKind;
  /** Writes the chunks, replacing any of the same document and ordinal: storing the same chunks twice leaves one copy. */
  upsert(tenantId: string, chunks: ChunkToStore[]): Promise<void>;
  /** Removes every chunk of the document. */
  deleteDocument(tenantId: string, documentId: string): Promise<void>;
  /** The `topK` chunks of the tenant nearest to `vector` whose metadata matches `filter`. */
  query(tenantId: string, vector: number[], topK: number, filter?: MetadataFilter): Promise<ChunkMatch[]>;
}

/** A chunk's id, the same in every store and on every write of it, which is what makes upserts idempotent. */
export function chunkId(tenantId: string, documentId: string, ordinal: number): string {
  const hex = createHash('sha256').update(`${tenantId}:${documentId}:${ordinal}`).digest('hex');
  // Shaped as a UUID (version 8, "custom") so that PostgreSQL stores it in a uuid column.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function vectorNorm(vector: number[]): number {
  let sum = 0;
  for (const value of vector) sum += value * value;
  return Math.sqrt(sum);
}

/**
 * Cosine similarity is undefined for a zero vector (and pgvector answers NaN): such a vector, or one with a non-finite
 * value, is refused before it reaches any store.
 */
export function assertRankableVector(vector: number[]): void {
  if (vector.length === 0 || vector.some((value) => !Number.isFinite(value)) || vectorNorm(vector) === 0) {
    throw new RangeError('A vector must have at least one dimension, finite values and a length above zero');
  }
}

/** Best first, then by id: the order every store returns, whatever order its engine found equal scores in. */
export function byScoreThenId(a: ChunkMatch, b: ChunkMatch): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
