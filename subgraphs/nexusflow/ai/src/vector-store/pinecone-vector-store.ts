import { Pinecone, type RecordMetadata } from '@pinecone-database/pinecone';
import {
  assertRankableVector,
  byScoreThenId,
  chunkId,
  type ChunkMatch,
  type ChunkToStore,
  type Metadata,
  type MetadataFilter,
  type VectorStore,
} from './vector-store.ts';

export interface PineconeSettings {
  apiKey: string;
  /** The index's data-plane host (as the Pinecone console shows it), which spares a control-plane lookup per start. */
  indexHost: string;
}

/** Pinecone keeps a chunk's own fields in its metadata, under names a document's metadata may not use. */
const DOCUMENT = '_document';
const ORDINAL = '_ordinal';
const TEXT = '_text';

/** Records per upsert request: Pinecone takes at most 1000, and 2 MB, a request. */
const UPSERT_BATCH = 100;

/** One namespace per tenant: Pinecone scopes every query and deletion to one, so no filter can reach another tenant. */
const namespaceOf = (tenantId: string) => `tenant-${tenantId}`;

/** Pinecone's filter language for "every one of these values". */
function pineconeFilter(filter: MetadataFilter): object | undefined {
  const conditions = Object.entries(filter).map(([key, value]) => ({ [key]: { $eq: value } }));
  return conditions.length === 0 ? undefined : { $and: conditions };
}

/** Chunks in a Pinecone index (metric: cosine, so its scores are cosine similarities) through its official client. */
export class PineconeVectorStore implements VectorStore {
  readonly kind = 'pinecone';
  private readonly client: Pinecone;

  constructor(private readonly settings: PineconeSettings) {
    this.client = new Pinecone({ apiKey: settings.apiKey });
  }

  private index(tenantId: string) {
    return this.client.index<RecordMetadata>({ host: this.settings.indexHost, namespace: namespaceOf(tenantId) });
  }

  async upsert(tenantId: string, chunks: ChunkToStore[]): Promise<void> {
    for (const chunk of chunks) assertRankableVector(chunk.vector);
    const index = this.index(tenantId);
    for (let start = 0; start < chunks.length; start += UPSERT_BATCH) {
      await index.upsert({
        records: chunks.slice(start, start + UPSERT_BATCH).map((chunk) => ({
          id: chunkId(tenantId, chunk.documentId, chunk.ordinal),
          values: chunk.vector,
          metadata: { ...chunk.metadata, [DOCUMENT]: chunk.documentId, [ORDINAL]: chunk.ordinal, [TEXT]: chunk.text },
        })),
      });
    }
  }

  async deleteDocument(tenantId: string, documentId: string): Promise<void> {
    await this.index(tenantId).deleteMany({ filter: { [DOCUMENT]: { $eq: documentId } } });
  }

  async query(tenantId: string, vector: number[], topK: number, filter: MetadataFilter = {}): Promise<ChunkMatch[]> {
    assertRankableVector(vector);
    if (topK <= 0) return [];
    const response = await this.index(tenantId).query({
      vector,
      topK,
      filter: pineconeFilter(filter),
      includeMetadata: true,
      includeValues: false,
    });
    return response.matches
      .map((match) => {
        const { [DOCUMENT]: documentId, [ORDINAL]: ordinal, [TEXT]: text, ...metadata } = match.metadata ?? {};
        return {
          id: match.id,
          documentId: String(documentId),
          ordinal: Number(ordinal),
          text: String(text),
          metadata: metadata as Metadata,
          score: match.score ?? 0,
        };
      })
      .sort(byScoreThenId);
  }
}

/** Metadata keys a document may not use, as the Pinecone store keeps its own fields under them. */
export const isReservedMetadataKey = (key: string) => key.startsWith('_');
