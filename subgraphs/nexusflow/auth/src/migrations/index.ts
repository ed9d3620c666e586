import type { MigrationObject } from '@mikro-orm/core';
import { InitialAuthSchema } from './0001-initial.ts';
import { ThrottleCounters } from './0002-throttle-counters.ts';
import { ApiKeys } from './0003-api-keys.ts';
import { Sessions } from './0004-sessions.ts';
import { Memberships } from './0005-memberships.ts';
import { PasswordLifecycle } from './0006-password-lifecycle.ts';
import { Mfa } from './0007-mfa.ts';
import { Oidc } from './0008-oidc.ts';
import { Saml } from './0009-saml.ts';
import { TenantPlans } from './0010-tenant-plans.ts';
import { TenantBoundSessions } from './0011-tenant-bound-sessions.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialAuthSchema },
  { name: '0002-throttle-counters', class: ThrottleCounters },
  { name: '0003-api-keys', class: ApiKeys },
  { name: '0004-sessions', class: Sessions },
  { name: '0005-memberships', class: Memberships },
  { name: '0006-password-lifecycle', class: PasswordLifecycle },
  { name: '0007-mfa', class: Mfa },
  { name: '0008-oidc', class: Oidc },
  { name: '0009-saml', class: Saml },
  { name: '0010-tenant-plans', class: TenantPlans },
  { name: '0011-tenant-bound-sessions', class: TenantBoundSessions },
];
