import { loaderById, type EntityManager } from '@nexusflow/kit';
import { OAuthClient } from './entities/oauth-client.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { oauthClientById: loaderById(em, OAuthClient) };
}

export type AuthServiceV2Loaders = ReturnType<typeof createLoaders>;
