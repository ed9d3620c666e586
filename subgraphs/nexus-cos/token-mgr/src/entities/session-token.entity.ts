import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * An access token issued for a sign-in session, by its `jti` (the row's id), kept until it expires: ending a session
 * (logout, revocation, a reused refresh token) puts every token of it still alive on the revocation list.
 */
export const SessionTokenSchema = defineEntity({
  name: 'SessionToken',
  tableName: 'session_tokens',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The session-mgr session it belongs to (`sid`). */
    sessionId: p.uuid().index(),
    userId: p.uuid(),
    expiresAt: p.datetime().index(),
  },
});

export class SessionToken extends SessionTokenSchema.class {}
SessionTokenSchema.setClass(SessionToken);
