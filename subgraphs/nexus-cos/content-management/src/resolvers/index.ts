import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Content as ContentEntity } from '../entities/content.entity.ts';
import { Content } from './Content.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';

/** Payloads carry their `__typename`; a content is the entity itself. */
const typeOf = (value: unknown) => (value instanceof ContentEntity ? 'Content' : (value as { __typename: string }).__typename);

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  Content,
  ContentChangeResult: { __resolveType: typeOf as never },
  RightsWindowChangeResult: { __resolveType: typeOf as never },
};
