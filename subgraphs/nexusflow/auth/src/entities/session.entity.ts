import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { User } from './user.entity.ts';

/**
 * One sign-in of a user, on one device: the refresh-token family its login or registration started (its id is the
 * family's id, and the `sid` of every access token issued for it). Refreshing it records when and from where it was
 * last seen; revoking it ends the family and puts it in the revoked sessions the gateway checks.
 */
export const SessionSchema = defineEntity({
  name: 'Session',
  tableName: 'sessions',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    user: () => p.manyToOne(User).ref().deleteRule('cascade').index(),
    /** The client's `User-Agent` at the latest sign-in or refresh, as the gateway signed it. */
    userAgent: p.text().nullable(),
    /** The client's address at the latest sign-in or refresh, as the gateway signed it. */
    clientAddress: p.string().nullable(),
    lastSeenAt: p.datetime(),
    /** When its latest refresh token expires: the session ends then unless refreshed. */
    expiresAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
    /**
     * Started through a tenant's own identity provider (SAML): it stays in that tenant. That provider vouches for the
     * person there only, so the session may not switch to the person's other tenants.
     */
    tenantBound: p.boolean().default(false),
  },
});

export class Session extends SessionSchema.class {}
SessionSchema.setClass(Session);
