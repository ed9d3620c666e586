import { requireUuid, systemFork } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  me: (_parent, _args, { identity, loaders }) => (identity.kind === 'user' ? loaders.memberByUserId.load(identity.userId) : null),
  // The loaders' unit of work is scoped to the caller's tenant: a user of another tenant is not found.
  user: (_parent, { id }, { loaders }) => loaders.memberByUserId.load(requireUuid(id, 'id')),
  myTenants: (_parent, _args, { em, identity, services }) => services.teams.myMemberships(em, identity),
  invitations: (_parent, _args, { em, identity, services }) => services.teams.invitations(em, identity),
  apiKeys: (_parent, _args, { em, identity, services }) => services.apiKeys.list(em, identity),
  mySessions: (_parent, _args, { em, identity, services }) => services.sessions.list(em, identity),
  // Linked identities belong to the person, whichever tenant they are working in.
  linkedIdentities: (_parent, _args, { em, identity, services }) => services.oidc.linkedIdentities(systemFork(em), identity),
  samlConnection: (_parent, _args, { em, identity, services }) => services.saml.connection(em, identity),
  samlServiceProvider: (_parent, _args, { identity, services }) => services.saml.serviceProvider(identity),
  // The gateway asks about a token's session before the request has a tenant; not in the API, and only signed calls reach it.
  sessionRevoked: (_parent, { id }, { em, services }) => services.sessions.isRevoked(systemFork(em), id),
  // Other subgraphs ask for the tenant they serve a caller in (its plan, say); the tenant filter shows no other.
  callerTenant: (_parent, _args, { identity, loaders }) => (identity.kind === 'user' ? loaders.tenantById.load(identity.tenantId) : null),
};
