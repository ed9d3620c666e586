import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  connectIntegration: (_parent, { provider }, { em, identity, services }) => services.connections.connect(em, identity, provider),
  completeIntegrationConnection: (_parent, { state, code }, { em, identity, services }) =>
    services.connections.complete(em, identity, state, code),
  connectHookIntegration: (_parent, { provider, targetUrl }, { em, identity, services }) =>
    services.connections.connectHook(em, identity, provider, targetUrl),
  disconnectIntegration: (_parent, { id }, { em, identity, services }) => services.connections.disconnect(em, identity, id),
  rotateIntegrationWebhookSecret: (_parent, { id }, { em, identity, services }) => services.webhookSecrets.rotate(em, identity, id),
  watchIntegrationMailbox: (_parent, { id }, { em, identity, services }) => services.mailWatches.rewatch(em, identity, id),
  postIntegrationMessage: (_parent, { integrationId, channel, text, idempotencyKey }, { em, identity, services }) =>
    services.actions.postMessage(em, identity, integrationId, channel, text, idempotencyKey ?? null),
  sendIntegrationHook: (_parent, { integrationId, payload, idempotencyKey }, { em, identity, services }) =>
    services.actions.sendToHook(em, identity, integrationId, payload, idempotencyKey ?? null),
  saveCrmContact: (_parent, { input, matchEmail, idempotencyKey }, { em, identity, services }) =>
    services.crmRecords.saveContact(em, identity, input, { matchEmail: matchEmail ?? false, idempotencyKey: idempotencyKey ?? null }),
  saveCrmCompany: (_parent, { input }, { em, identity, services }) => services.crm.store.saveCompany(em, identity, input),
  saveCrmDeal: (_parent, { input }, { em, identity, services }) => services.crm.store.saveDeal(em, identity, input),
  saveFieldMappings: (_parent, { integrationId, objectType, mappings, conflictPolicy }, { em, identity, services }) =>
    services.crm.store.saveMappings(
      em,
      identity,
      integrationId,
      objectType,
      mappings.map((mapping) => ({ ...mapping, transform: mapping.transform ?? null, defaultValue: mapping.defaultValue ?? null })),
      conflictPolicy,
    ),
  syncIntegration: (_parent, { id }, { em, identity, services }) => services.crm.engine.start(em, identity, id),
  resolveSyncConflict: (_parent, { id, choice }, { em, identity, services }) => services.crm.engine.resolve(em, identity, id, choice),
};
