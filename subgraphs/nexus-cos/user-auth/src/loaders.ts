import { loaderById, systemFork, type EntityManager } from '@nexusflow/kit';
import { Organisation } from './entities/organisation.entity.ts';
import { User } from './entities/user.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return {
    userById: loaderById(em, User),
    /**
     * A user's own organisation, asked only for users the request could see: across tenants, because registering and
     * verifying an email show a user whom the (anonymous) caller has no tenant of yet.
     */
    organisationOfUser: loaderById(systemFork(em), Organisation),
  };
}

export type UserAuthLoaders = ReturnType<typeof createLoaders>;
