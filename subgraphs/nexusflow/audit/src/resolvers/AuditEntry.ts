import { hasRole, isUuid, Role } from '@nexusflow/kit';
import type { AuditEntryResolvers } from '../__generated__/resolvers-types.ts';

export const AuditEntry: AuditEntryResolvers = {
  // The trail is for OWNERs and ADMINs: a reference from elsewhere resolves for no one else.
  __resolveReference: ({ id }, { identity, loaders }) =>
    isUuid(id) && hasRole(identity, Role.Owner, Role.Admin) ? loaders.auditEntryById.load(id) : null,
  recordedAt: (entry) => entry.createdAt,
  actor: (entry) => ({ kind: entry.actorKind, id: entry.actorId }),
};
