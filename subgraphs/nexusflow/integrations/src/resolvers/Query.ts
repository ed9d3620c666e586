import { requireUser, requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  integrationProviders: (_parent, _args, { identity, services }) => services.connections.providers(identity),
  integrations: (_parent, { first }, { em, identity, services }) => services.connections.list(em, identity, first ?? 50),
  integration: (_parent, { id }, { identity, loaders }) => {
    requireUser(identity);
    return loaders.integrationById.load(requireUuid(id, 'id'));
  },
  integrationMessages: (_parent, { integrationId, first }, { em, identity, services }) =>
    services.actions.listMessages(em, identity, integrationId, first ?? 20),
  integrationMessage: (_parent, { integrationId, id }, { em, identity, services }) =>
    services.actions.message(em, identity, integrationId, id),
  crmContacts: (_parent, { first, after }, { em, identity, services }) =>
    services.crm.store.contacts(em, identity, first ?? 50, after ?? null),
  crmCompanies: (_parent, { first, after }, { em, identity, services }) =>
    services.crm.store.companies(em, identity, first ?? 50, after ?? null),
  crmDeals: (_parent, { first, after }, { em, identity, services }) => services.crm.store.deals(em, identity, first ?? 50, after ?? null),
  fieldMappings: (_parent, { integrationId, objectType }, { em, identity, services }) =>
    services.crm.store.mappings(em, identity, integrationId, objectType),
  syncConflicts: (_parent, { integrationId, first }, { em, identity, services }) =>
    services.crm.engine.conflicts(em, identity, integrationId, first ?? 50),
};
