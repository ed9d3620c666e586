import type { DeliveryResolvers } from '../__generated__/resolvers-types.ts';

export const Delivery: DeliveryResolvers = {
  error: (delivery) => delivery.lastError ?? null,
};
