import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';

export const Subscription: SubscriptionResolvers = {
  completionStream: {
    // Refusals (roles, limits, no provider) and a total outage are answered before the first event.
    subscribe: async (_parent, { input }, { em, identity, services }) => {
      const chunks = await services.features.stream(em, identity, input);
      return (async function* events() {
        for await (const chunk of chunks) yield { completionStream: chunk };
      })();
    },
  },
};
