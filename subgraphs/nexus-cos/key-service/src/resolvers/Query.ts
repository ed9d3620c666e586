import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  tenantKey: (_parent, _args, { em, identity, services }) => services.vault.tenantKeyForAdmin(em, identity),
  keyAuditEvents: (_parent, { first, after }, { em, identity, services }) => services.auditTrail.page(em, identity, first, after),
};
