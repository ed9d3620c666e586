import { loaderById, type EntityManager } from '@nexusflow/kit';
import { SignIn } from './entities/sign-in.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { signInById: loaderById(em, SignIn) };
}

export type AuthServiceLoaders = ReturnType<typeof createLoaders>;
