import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * One chunk of a document with its embedding, as the PostgreSQL vector store keeps it. The store reads and writes these
 * rows in SQL of its own (ranking is a query over `embedding`); the entity is here so that the migrations are checked
 * against it like every other table.
 */
export const DocumentChunkSchema = defineEntity({
  name: 'DocumentChunk',
  tableName: 'document_chunks',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    documentId: p.uuid(),
    ordinal: p.integer(),
    text: p.text(),
    metadata: p.json<Record<string, string | number | boolean>>(),
    /**
     * `real[]`, not pgvector's `vector`: the same column on a server without the extension, which ranks it with exact
     * cosine similarity in SQL, and with it, which casts it to `vector` and ranks with `<=>`.
     */
    embedding: p.array<number>((value) => Number(value)).columnType('real[]'),
    /**
     * The embedding's length, kept beside it: only vectors of the query's length are compared, and checking it on the
     * array itself would fetch every row's (out-of-line) embedding twice.
     */
    dimensions: p.integer(),
    /** ‖embedding‖, stored so that exact ranking divides by it instead of computing it for every row of every query. */
    embeddingNorm: p.double(),
  },
  indexes: [{ properties: ['tenantId', 'documentId'] }],
});

export class DocumentChunk extends DocumentChunkSchema.class {}
DocumentChunkSchema.setClass(DocumentChunk);
