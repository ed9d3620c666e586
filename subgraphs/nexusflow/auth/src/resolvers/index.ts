import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { ApiKey as ApiKeyEntity } from '../entities/api-key.entity.ts';
import { Session as SessionEntity } from '../entities/session.entity.ts';
import { ApiKey } from './ApiKey.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { Session } from './Session.ts';
import { Tenant } from './Tenant.ts';
import { User } from './User.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  User,
  Tenant,
  ApiKey,
  Session,
  // A revoked key is the entity itself; the only other member is the not-found payload.
  RevokeApiKeyResult: { __resolveType: (result) => (result instanceof ApiKeyEntity ? 'ApiKey' : 'ApiKeyNotFound') },
  RevokeSessionResult: { __resolveType: (result) => (result instanceof SessionEntity ? 'Session' : 'SessionNotFound') },
};
