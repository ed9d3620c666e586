import { entityBase, Role, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * An invitation to join a tenant, sent by email. Its token is signed (see domain/invitations.ts) rather than stored:
 * the row says whether it is still open, so that each token works once.
 */
export const InvitationSchema = defineEntity({
  name: 'Invitation',
  tableName: 'invitations',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** Lower-cased; only the person with this email may accept. */
    email: p.string(),
    role: p.enum(() => Role),
    /** Who sent it; null once they are no longer a user. */
    invitedBy: p.uuid().nullable(),
    expiresAt: p.datetime(),
    acceptedAt: p.datetime().nullable(),
    /** Set when an admin withdraws it or a newer invitation to the same email replaces it. */
    revokedAt: p.datetime().nullable(),
  },
});

export class Invitation extends InvitationSchema.class {}
InvitationSchema.setClass(Invitation);
