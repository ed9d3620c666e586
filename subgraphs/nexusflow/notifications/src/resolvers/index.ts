import { DateTimeScalar, JSONScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Delivery } from './Delivery.ts';
import { Mutation } from './Mutation.ts';
import { Notification } from './Notification.ts';
import { Query } from './Query.ts';
import { Subscription } from './Subscription.ts';
import { User } from './User.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query,
  Mutation,
  Subscription,
  Notification,
  Delivery,
  User,
};
