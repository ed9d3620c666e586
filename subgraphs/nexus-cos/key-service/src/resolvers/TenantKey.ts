import { isUuid } from '@nexusflow/kit';
import type { TenantKeyResolvers } from '../__generated__/resolvers-types.ts';

export const TenantKey: TenantKeyResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.tenantKeyById.load(id) : null),
};
