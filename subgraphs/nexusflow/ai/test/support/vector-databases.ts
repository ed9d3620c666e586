import { createLogger, Metrics, openDatabase, type Database } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, testEnvironment, type StorageMode } from '@nexusflow/kit/testing';
import { DocumentChunk } from '../../src/entities/document-chunk.entity.ts';
import { Document } from '../../src/entities/document.entity.ts';
import { migrations } from '../../src/migrations/index.ts';

/**
 * The ai service's migrated database, as the service opens it: embedded PGlite with the extensions the subgraph loads
 * (pgvector), or a fresh database on the real PostgreSQL server (which has no pgvector here).
 */
export async function openAiDatabase(mode: StorageMode, label: string): Promise<{ database: Database; close: () => Promise<void> }> {
  const directory = await createTempDirectory(`ai-${label}`);
  const server = mode === 'postgres' ? await createTestDatabase(testEnvironment.postgresUrl!, `ai_${label}`) : undefined;
  const database = await openDatabase({
    serviceName: 'ai',
    url: server?.url,
    embeddedDirectory: directory.path,
    // The store's own tables are enough: it reads and writes them in SQL of its own.
    entities: [Document, DocumentChunk],
    migrations,
    // As the subgraph's definition loads it.
    embeddedExtensions: ['vector'],
    metrics: new Metrics('ai'),
    logger: createLogger({ name: 'ai', level: 'silent' }),
  });
  return {
    database,
    async close() {
      await database.close();
      await server?.drop();
      await directory.remove();
    },
  };
}
