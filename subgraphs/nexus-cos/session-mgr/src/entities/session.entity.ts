import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A sign-in session, for listing and audit: whether it lives is decided by the live-session store (Redis or memory),
 * and by `revokedAt` here, which every refresh checks.
 */
export const SessionSchema = defineEntity({
  name: 'Session',
  tableName: 'sessions',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    userId: p.uuid().index(),
    /** The roles its access tokens carry, as the sign-in found them. */
    roles: p.array(),
    userAgent: p.string().nullable(),
    clientAddress: p.string().nullable(),
    lastRefreshedAt: p.datetime(),
    idleExpiresAt: p.datetime(),
    absoluteExpiresAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
    /** Why: REVOKED (a user or an admin), REUSED (a spent refresh token came back). */
    revokedReason: p.string().nullable(),
  },
});

export class Session extends SessionSchema.class {}
SessionSchema.setClass(Session);
