import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { User } from './user.entity.ts';

/**
 * One of the single-use codes that stand in for the authenticator when it is lost. Only a SHA-256 hash is stored: the
 * codes are random and guesses are throttled per user, so a slow hash would add nothing.
 */
export const MfaRecoveryCodeSchema = defineEntity({
  name: 'MfaRecoveryCode',
  tableName: 'mfa_recovery_codes',
  properties: {
    ...entityBase,
    user: () => p.manyToOne(User).ref().deleteRule('cascade').index(),
    codeHash: p.string(),
    usedAt: p.datetime().nullable(),
  },
});

export class MfaRecoveryCode extends MfaRecoveryCodeSchema.class {}
MfaRecoveryCodeSchema.setClass(MfaRecoveryCode);
