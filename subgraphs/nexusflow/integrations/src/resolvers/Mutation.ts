import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  connectIntegration: (_parent, { provider }, { em, identity, services }) => services.connections.connect(em, identity, provider),
  completeIntegrationConnection: (_parent, { state, code }, { em, identity, services }) =>
    services.connections.complete(em, identity, state, code),
  connectHookIntegration: (_parent, { provider, targetUrl }, { em, identity, services }) =>
    services.connections.connectHook(em, identity, provider, targetUrl),
  disconnectIntegration: (_parent, { id }, { em, identity, services }) => services.connections.disconnect(em, identity, id),
};
