import { defineSubgraph, OutboxEvent } from '@nexusflow/kit';
import { loadAiConfig } from './config.ts';
import { DocumentChunk } from './entities/document-chunk.entity.ts';
import { Document } from './entities/document.entity.ts';
import { PromptTemplate } from './entities/prompt-template.entity.ts';
import { UsageRecord } from './entities/usage-record.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createModelServices, startModelWork } from './services.ts';

export const entities = [UsageRecord, OutboxEvent, Document, DocumentChunk, PromptTemplate];

export const subgraph = defineSubgraph({
  name: 'ai',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAiConfig,
  entities,
  migrations,
  // pgvector for the document search's ranking (see src/vector-store/postgres-vector-store.ts).
  embeddedExtensions: ['vector'],
  resolvers,
  createLoaders,
  createServices: createModelServices,
  background: (_runtime, services) => startModelWork(services),
});
