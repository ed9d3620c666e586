import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import type { CompletionChunk } from '../domain/ai-models.ts';

export const Subscription: SubscriptionResolvers = {
  completionStream: {
    // Refusals (roles, limits, no provider) and a total outage are answered before the first event. The chunks are
    // the event stream itself, so that a client leaving reaches the provider's request at once (see AiModels.stream).
    subscribe: async (_parent, { input }, { em, identity, services }) => services.features.stream(em, identity, input),
    resolve: (chunk: CompletionChunk) => chunk,
  },
};
