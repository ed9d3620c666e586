import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  auditEntries: (_parent, { filter, first, after }, { em, identity, services }) =>
    services.log.search(em, identity, filter ?? {}, first ?? 20, after ?? null),
  verifyAuditTrail: (_parent, { from, to }, { em, identity, services }) => services.log.verify(em, identity, from ?? null, to ?? null),
  complianceReport: (_parent, { kind, from, to }, { identity, services }) => services.log.report(identity, kind, from, to),
  auditSettings: (_parent, _args, { em, identity, services }) => services.log.settings(em, identity),
};
