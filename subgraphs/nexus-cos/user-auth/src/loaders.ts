import { loaderById, type EntityManager } from '@nexusflow/kit';
import { User } from './entities/user.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { userById: loaderById(em, User) };
}

export type UserAuthLoaders = ReturnType<typeof createLoaders>;
