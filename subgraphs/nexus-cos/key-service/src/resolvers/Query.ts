import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  tenantKeys: (_parent, { first }, { em, services }) => services.tenantKeys.list(em, first ?? 20),
  tenantKey: (_parent, { id }, { loaders }) => loaders.tenantKeyById.load(requireUuid(id, 'id')),
};
