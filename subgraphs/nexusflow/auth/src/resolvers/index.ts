import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { ApiKey as ApiKeyEntity } from '../entities/api-key.entity.ts';
import { Invitation as InvitationEntity } from '../entities/invitation.entity.ts';
import { LinkedIdentity as LinkedIdentityEntity } from '../entities/linked-identity.entity.ts';
import { Membership as MembershipEntity } from '../entities/membership.entity.ts';
import { SamlConnection as SamlConnectionEntity } from '../entities/saml-connection.entity.ts';
import { Session as SessionEntity } from '../entities/session.entity.ts';
import { ApiKey } from './ApiKey.ts';
import { Invitation } from './Invitation.ts';
import { LinkedIdentity } from './LinkedIdentity.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { Session } from './Session.ts';
import { Tenant } from './Tenant.ts';
import { TenantMembership } from './TenantMembership.ts';
import { User } from './User.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  User,
  Tenant,
  ApiKey,
  Session,
  TenantMembership,
  Invitation,
  LinkedIdentity,
  // A revoked key is the entity itself; the only other member is the not-found payload.
  RevokeApiKeyResult: { __resolveType: (result) => (result instanceof ApiKeyEntity ? 'ApiKey' : 'ApiKeyNotFound') },
  // Entities are the successful outcomes; every typed failure carries its __typename.
  InviteMemberResult: { __resolveType: (result) => (result instanceof InvitationEntity ? 'Invitation' : result.__typename!) },
  RevokeInvitationResult: { __resolveType: (result) => (result instanceof InvitationEntity ? 'Invitation' : result.__typename!) },
  ChangeMemberRoleResult: { __resolveType: (result) => (result instanceof MembershipEntity ? 'User' : result.__typename!) },
  UnlinkIdentityResult: { __resolveType: (result) => (result instanceof LinkedIdentityEntity ? 'LinkedIdentity' : result.__typename!) },
  ConfigureSamlConnectionResult: {
    __resolveType: (result) => (result instanceof SamlConnectionEntity ? 'SamlConnection' : 'InvalidInput'),
  },
  RevokeSessionResult: { __resolveType: (result) => (result instanceof SessionEntity ? 'Session' : 'SessionNotFound') },
};
