import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { SignIn } from './SignIn.ts';

export const resolvers: Resolvers = { DateTime: DateTimeScalar, Query, Mutation, SignIn };
