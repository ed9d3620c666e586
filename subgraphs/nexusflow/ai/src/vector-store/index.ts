import type { Forkable, Logger } from '@nexusflow/kit';
import { PineconeVectorStore, type PineconeSettings } from './pinecone-vector-store.ts';
import { detectPostgresRanking, PostgresVectorStore } from './postgres-vector-store.ts';
import type { VectorStore } from './vector-store.ts';

export * from './vector-store.ts';
export { PineconeVectorStore, isReservedMetadataKey, type PineconeSettings } from './pinecone-vector-store.ts';
export { detectPostgresRanking, PostgresVectorStore, type PostgresRanking } from './postgres-vector-store.ts';

/**
 * The store configuration chooses: Pinecone when it is configured, this service's PostgreSQL otherwise, ranking with
 * pgvector when the database has it installed (asked, not assumed) and exact cosine similarity when not.
 */
export async function openVectorStore(pinecone: PineconeSettings | undefined, database: Forkable, logger: Logger): Promise<VectorStore> {
  const store = pinecone ? new PineconeVectorStore(pinecone) : new PostgresVectorStore(database, await detectPostgresRanking(database));
  logger.info({ vectorStore: store.kind }, `document search ranks with ${store.kind}`);
  return store;
}
