import { loaderById, type EntityManager } from '@nexusflow/kit';
import { Document } from './entities/document.entity.ts';
import { promptVersionsLoader } from './domain/prompts.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { documentById: loaderById(em, Document), promptVersionsByName: promptVersionsLoader(em) };
}

export type AiLoaders = ReturnType<typeof createLoaders>;
