import type { Identity } from '@nexusflow/kit';
import type { Tenant } from '../entities/tenant.entity.ts';
import type { User } from '../entities/user.entity.ts';

/** Tenants are isolated: a caller sees only its own tenant and that tenant's users. */
export function visibleUser(identity: Identity, user: User | null): User | null {
  return user && identity.kind === 'user' && user.tenant.id === identity.tenantId ? user : null;
}

export function visibleTenant(identity: Identity, tenant: Tenant | null): Tenant | null {
  return tenant && identity.kind === 'user' && tenant.id === identity.tenantId ? tenant : null;
}
