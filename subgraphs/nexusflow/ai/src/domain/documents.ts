import { badUserInput, requireRole, requireUser, WRITER_ROLES, type EntityManager, type Identity } from '@nexusflow/kit';
import type DataLoader from 'dataloader';
import { z } from 'zod';
import { Document } from '../entities/document.entity.ts';
import { isReservedMetadataKey, type ChunkToStore, type VectorStore } from '../vector-store/index.ts';
import { chunkText, DEFAULT_CHUNKING, type ChunkingOptions, type TextChunk } from './chunking.ts';

/** What indexing needs of the models: vectors for texts, limited and accounted to the tenant (AiModels.embed). */
export interface Embedder {
  embed(
    tenantId: string,
    texts: readonly string[],
    model?: string,
    userId?: string | null,
  ): Promise<{ model: string; vectors: number[][]; tokens: number }>;
}

export interface DocumentIndexOptions {
  chunking: ChunkingOptions;
  /** Tokens of chunks sent in one embedding request, below the per-request limit (AI_MAX_TOKENS_PER_REQUEST). */
  tokensPerEmbeddingRequest: number;
}

export const DEFAULT_DOCUMENT_INDEX_OPTIONS: DocumentIndexOptions = { chunking: DEFAULT_CHUNKING, tokensPerEmbeddingRequest: 8000 };

const MAX_TOP_K = 50;
const MAX_EMBED_TEXTS = 100;
const MAX_TEXT_CHARACTERS = 1_000_000;
const MAX_METADATA_KEYS = 40;

const metadataSchema = z
  .record(z.string().min(1).max(64), z.union([z.string().max(512), z.number(), z.boolean()]))
  .refine((metadata) => Object.keys(metadata).length <= MAX_METADATA_KEYS, `must have at most ${MAX_METADATA_KEYS} keys`)
  .refine((metadata) => !Object.keys(metadata).some(isReservedMetadataKey), 'keys must not start with "_"');

const indexDocumentInputSchema = z.object({
  externalId: z.string().trim().min(1).max(255).nullish(),
  title: z.string().trim().min(1, 'must not be empty').max(255, 'must be at most 255 characters'),
  text: z
    .string()
    .max(MAX_TEXT_CHARACTERS, `must be at most ${MAX_TEXT_CHARACTERS} characters`)
    .refine((text) => text.trim() !== '', 'must not be empty'),
  metadata: metadataSchema.nullish(),
});

const embedInputSchema = z.object({
  texts: z
    .array(z.string().refine((text) => text.trim() !== '', 'must not be blank'))
    .min(1, 'must have at least one text')
    .max(MAX_EMBED_TEXTS, `must have at most ${MAX_EMBED_TEXTS} texts`),
});

const searchInputSchema = z.object({
  query: z.string().trim().min(1, 'must not be empty').max(10_000, 'must be at most 10000 characters'),
  topK: z.number().int().min(1, 'must be at least 1').max(MAX_TOP_K, `must be at most ${MAX_TOP_K}`),
  filter: metadataSchema.nullish(),
});

function parsed<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.filter((part) => typeof part !== 'symbol').join('.');
  throw badUserInput(`"${field}" ${issue.message}`, { field });
}

/** A chunk found by search, with the document it is part of. */
export interface SearchHit {
  document: Document;
  ordinal: number;
  text: string;
  score: number;
}

export interface Embeddings {
  model: string;
  vectors: number[][];
  tokens: number;
}

export type RemoveDocumentResult = Document | { __typename: 'DocumentNotFound'; message: string; id: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A tenant's searchable documents: each text is cut into chunks, embedded through the tenant's models (so limits and
 * usage apply) and kept in the vector store; a search embeds the query the same way and returns the nearest chunks.
 */
export class DocumentIndex {
  constructor(
    private readonly store: Promise<VectorStore>,
    private readonly embedder: Embedder,
    private readonly options: DocumentIndexOptions = DEFAULT_DOCUMENT_INDEX_OPTIONS,
  ) {}

  /** Vectors for the texts, as any model call: a writer role, the tenant's limits, usage written down. */
  async embed(identity: Identity, texts: unknown): Promise<Embeddings> {
    const user = requireRole(identity, WRITER_ROLES);
    const { texts: valid } = parsed(embedInputSchema, { texts });
    return this.embedder.embed(user.tenantId, valid, undefined, user.userId);
  }

  /** Needs a writer role. With an `externalId` the tenant already used, the document is replaced, its old chunks removed. */
  async indexDocument(em: EntityManager, identity: Identity, input: unknown): Promise<Document> {
    const user = requireRole(identity, WRITER_ROLES);
    const { externalId, title, text, metadata = {} } = parsed(indexDocumentInputSchema, input);
    const chunks = chunkText(text, this.options.chunking);
    // Embedded before anything is stored: a refusal (limits, no provider) leaves the index as it was.
    const { model, vectors } = await this.embedChunks(user.tenantId, user.userId, chunks);
    const existing = externalId ? await em.findOne(Document, { externalId }) : null;
    const fields = { title, metadata: metadata ?? {}, chunkCount: chunks.length, model, createdBy: user.userId };
    const document = existing
      ? Object.assign(existing, fields)
      : em.create(Document, { ...fields, tenantId: user.tenantId, externalId: externalId ?? null });
    await em.flush();
    const store = await this.store;
    if (existing) await store.deleteDocument(user.tenantId, document.id);
    const toStore: ChunkToStore[] = chunks.map((chunk, index) => ({
      documentId: document.id,
      ordinal: chunk.ordinal,
      text: chunk.text,
      vector: vectors[index]!,
      metadata: metadata ?? {},
    }));
    await store.upsert(user.tenantId, toStore);
    return document;
  }

  /** Needs a writer role; a document the tenant does not have is a DocumentNotFound result, not an error. */
  async removeDocument(em: EntityManager, identity: Identity, id: string): Promise<RemoveDocumentResult> {
    const user = requireRole(identity, WRITER_ROLES);
    const document = UUID.test(id) ? await em.findOne(Document, { id }) : null;
    if (!document) return { __typename: 'DocumentNotFound', message: `No document ${id}`, id };
    await (await this.store).deleteDocument(user.tenantId, document.id);
    em.remove(document);
    await em.flush();
    return document;
  }

  /** Any signed-in member of the tenant: the chunks nearest to the query by meaning, with their document. */
  async search(documentById: DataLoader<string, Document | null>, identity: Identity, input: unknown): Promise<SearchHit[]> {
    const user = requireUser(identity);
    const { query, topK, filter } = parsed(searchInputSchema, input);
    const { vectors } = await this.embedder.embed(user.tenantId, [query], undefined, user.userId);
    const matches = await (await this.store).query(user.tenantId, vectors[0]!, topK, filter ?? {});
    // The loader reads in the tenant's unit of work, a second guard: a chunk whose document the tenant cannot see is not shown.
    const documents = await Promise.all(matches.map((match) => documentById.load(match.documentId)));
    return matches.flatMap((match, index) => {
      const document = documents[index];
      return document ? [{ document, ordinal: match.ordinal, text: match.text, score: match.score }] : [];
    });
  }

  /** In requests of at most `tokensPerEmbeddingRequest`, all with the model the first one used. */
  private async embedChunks(tenantId: string, userId: string, chunks: TextChunk[]): Promise<{ model: string; vectors: number[][] }> {
    const vectors: number[][] = [];
    let model: string | undefined;
    let start = 0;
    while (start < chunks.length) {
      let end = start;
      let tokens = 0;
      while (end < chunks.length && (end === start || tokens + chunks[end]!.tokens <= this.options.tokensPerEmbeddingRequest))
        tokens += chunks[end++]!.tokens;
      const embedded = await this.embedder.embed(
        tenantId,
        chunks.slice(start, end).map((chunk) => chunk.text),
        model,
        userId,
      );
      model = embedded.model;
      vectors.push(...embedded.vectors);
      start = end;
    }
    // The input schema refuses a blank text, so there was at least one chunk and one request.
    return { model: model!, vectors };
  }
}
