import { isUuid } from '@nexusflow/kit';
import type { AnalyticsEventResolvers } from '../__generated__/resolvers-types.ts';

export const AnalyticsEvent: AnalyticsEventResolvers = {
  __resolveReference: ({ id }, { loaders, services }) => (isUuid(id) ? loaders.analyticsEventById(services.events).load(id) : null),
};
