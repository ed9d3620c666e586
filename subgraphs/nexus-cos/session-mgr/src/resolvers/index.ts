import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Session as SessionEntity } from '../entities/session.entity.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { Session } from './Session.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  Session,
  RevokeSessionResult: { __resolveType: (result) => (result instanceof SessionEntity ? 'Session' : 'SessionNotFound') },
};
