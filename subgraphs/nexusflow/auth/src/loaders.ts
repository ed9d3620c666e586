import DataLoader from 'dataloader';
import { groupByKeys, loaderById, orderByKeys, type EntityManager, type Identity } from '@nexusflow/kit';
import { Membership } from './entities/membership.entity.ts';
import { MfaEnrollment } from './entities/mfa-enrollment.entity.ts';
import { Tenant } from './entities/tenant.entity.ts';

/**
 * Every query runs in the request's unit of work, which sees the caller's tenant only (see the kit's tenant-scope.ts):
 * users are reached through their memberships there, so a user of another tenant is not found.
 */
export function createLoaders(em: EntityManager, _identity: Identity) {
  return {
    /** A user, by id, as a member of the caller's tenant (with the person populated); null when not a member. */
    memberByUserId: new DataLoader<string, Membership | null>(async (userIds) =>
      orderByKeys(userIds, await em.find(Membership, { user: { $in: [...userIds] } }, { populate: ['user'] }), (m) => m.user.id),
    ),
    tenantById: loaderById(em, Tenant),
    /** Whether each person has two-factor authentication on (a confirmed enrollment). */
    mfaEnabledByUserId: new DataLoader<string, boolean>(async (userIds) => {
      const enabled = await em.find(MfaEnrollment, { user: { $in: [...userIds] }, confirmedAt: { $ne: null } });
      const enabledIds = new Set(enabled.map((enrollment) => enrollment.user.id));
      return userIds.map((id) => enabledIds.has(id));
    }),
    membersByTenantId: new DataLoader<string, Membership[]>(async (tenantIds) =>
      groupByKeys(
        tenantIds,
        await em.find(Membership, { tenant: { $in: [...tenantIds] } }, { populate: ['user'], orderBy: { createdAt: 'asc', id: 'asc' } }),
        (m) => m.tenant.id,
      ),
    ),
  };
}

export type AuthLoaders = ReturnType<typeof createLoaders>;
