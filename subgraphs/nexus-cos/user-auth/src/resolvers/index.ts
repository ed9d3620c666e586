import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { User as UserEntity } from '../entities/user.entity.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { User } from './User.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  User,
  CreateUserResult: { __resolveType: (result) => (result instanceof UserEntity ? 'User' : 'EmailAlreadyRegistered') },
  VerifyEmailResult: { __resolveType: (result) => (result instanceof UserEntity ? 'User' : 'InvalidVerificationToken') },
  ChangePasswordResult: { __resolveType: (result) => (result instanceof UserEntity ? 'User' : 'IncorrectPassword') },
  UserStatusResult: { __resolveType: (result) => (result instanceof UserEntity ? 'User' : (result.__typename ?? 'UserNotFound')) },
};
