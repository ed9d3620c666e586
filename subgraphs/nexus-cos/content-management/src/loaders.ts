import { loaderById, type EntityManager } from '@nexusflow/kit';
import { Content } from './entities/content.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { contentById: loaderById(em, Content) };
}

export type ContentManagementLoaders = ReturnType<typeof createLoaders>;
