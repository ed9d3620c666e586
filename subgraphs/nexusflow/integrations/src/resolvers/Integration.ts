import { isUuid } from '@nexusflow/kit';
import type { IntegrationResolvers } from '../__generated__/resolvers-types.ts';
import { PROVIDERS, type ProviderName } from '../domain/providers.ts';
import { verificationOf } from '../webhooks/schemes.ts';

export const Integration: IntegrationResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.integrationById.load(id) : null),
  provider: (integration) => integration.provider as ProviderName,
  kind: (integration) => PROVIDERS[integration.provider as ProviderName].kind,
  connectedAt: (integration) => integration.createdAt,
  webhookUrl: (integration, _args, { services }) => services.webhooks.urlOf(integration.id),
  webhookVerification: (integration) => verificationOf(integration.provider as ProviderName),
  counts: (integration, _args, { loaders }) => loaders.syncCountsByIntegrationId.load(integration.id),
};
