import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A text a tenant indexed for search. Its chunks live in the vector store (this database's `document_chunks`, or
 * Pinecone), so the row is what says a document exists and how many chunks it has, whichever store holds them.
 */
export const DocumentSchema = defineEntity({
  name: 'Document',
  tableName: 'documents',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The user who indexed it. */
    createdBy: p.uuid(),
    /** The caller's own key for the text (a file path, a ticket number): indexing it again replaces the document. */
    externalId: p.string().nullable(),
    title: p.string(),
    metadata: p.json<Record<string, string | number | boolean>>(),
    chunkCount: p.integer(),
    /** The embedding model its chunks' vectors come from: a query must be embedded by the same one to compare. */
    model: p.string(),
  },
  uniques: [{ properties: ['tenantId', 'externalId'] }],
});

export class Document extends DocumentSchema.class {}
DocumentSchema.setClass(Document);
