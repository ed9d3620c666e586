import { loaderById, type EntityManager } from '@nexusflow/kit';
import { LoginAttempt } from './entities/login-attempt.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { loginAttemptById: loaderById(em, LoginAttempt) };
}

export type AuthServiceLoaders = ReturnType<typeof createLoaders>;
