import { loaderById, type EntityManager } from '@nexusflow/kit';
import { Session } from './entities/session.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { sessionById: loaderById(em, Session) };
}

export type SessionMgrLoaders = ReturnType<typeof createLoaders>;
