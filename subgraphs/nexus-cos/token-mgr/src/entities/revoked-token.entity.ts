import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** An access token on the revocation list, by its `jti` (the row's id), until it would have expired anyway. */
export const RevokedTokenSchema = defineEntity({
  name: 'RevokedToken',
  tableName: 'revoked_tokens',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    /** The tenant the token acted in. */
    tenantId: p.uuid().index(),
    /** The user who revoked it. */
    revokedBy: p.uuid(),
    expiresAt: p.datetime().index(),
  },
});

export class RevokedToken extends RevokedTokenSchema.class {}
RevokedTokenSchema.setClass(RevokedToken);
