import { isUuid } from '@nexusflow/kit';
import type { IntegrationResolvers } from '../__generated__/resolvers-types.ts';
import { PROVIDERS, type ProviderName } from '../domain/providers.ts';

export const Integration: IntegrationResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.integrationById.load(id) : null),
  provider: (integration) => integration.provider as ProviderName,
  kind: (integration) => PROVIDERS[integration.provider as ProviderName].kind,
  connectedAt: (integration) => integration.createdAt,
  // Filled in by the sync, which does not run yet.
  counts: () => ({ syncedRecords: 0, heldConflicts: 0 }),
};
