import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { User } from './user.entity.ts';

/**
 * The second step a correct password leads to for a person with MFA on: short-lived, single-use, and bound to the
 * person and to the tenant the sign-in chose. Only a SHA-256 hash of its token is stored.
 */
export const MfaChallengeSchema = defineEntity({
  name: 'MfaChallenge',
  tableName: 'mfa_challenges',
  properties: {
    ...entityBase,
    tokenHash: p.string().unique(),
    user: () => p.manyToOne(User).ref().deleteRule('cascade').index(),
    /** The tenant the session will work in once a code completes the sign-in. */
    tenantId: p.uuid(),
    expiresAt: p.datetime().index(),
    usedAt: p.datetime().nullable(),
  },
});

export class MfaChallenge extends MfaChallengeSchema.class {}
MfaChallengeSchema.setClass(MfaChallenge);
