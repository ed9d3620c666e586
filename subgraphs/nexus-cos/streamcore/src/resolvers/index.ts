import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Content } from './Content.ts';
import { Mutation } from './Mutation.ts';
import { PlaybackSession } from './PlaybackSession.ts';
import { Query } from './Query.ts';
import { Rendition } from './Rendition.ts';
import { Subscription } from './Subscription.ts';

/** Every member of a result union carries its `__typename`. */
const union = { __resolveType: (value: { __typename: string }) => value.__typename } as never;

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  Subscription,
  Content,
  PlaybackSession,
  Rendition,
  RegisterRenditionsResult: union,
  StartPlaybackResult: union,
  PlaybackHeartbeatResult: union,
  StopPlaybackResult: union,
};
