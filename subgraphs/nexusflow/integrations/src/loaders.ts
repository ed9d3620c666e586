import { loaderById, type EntityManager } from '@nexusflow/kit';
import { createSyncLoaders } from './domain/sync/loaders.ts';
import { Integration } from './entities/integration.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { integrationById: loaderById(em, Integration, { disconnectedAt: null }), ...createSyncLoaders(em) };
}

export type IntegrationsLoaders = ReturnType<typeof createLoaders>;
