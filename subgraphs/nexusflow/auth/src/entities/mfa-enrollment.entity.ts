import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { User } from './user.entity.ts';

/**
 * A person's authenticator (TOTP, RFC 6238), across every tenant they belong to: pending from beginMfaEnrollment until
 * a first code confirms it, then on until disabled. The shared secret is stored encrypted (see `domain/mfa-crypto.ts`)
 * because, unlike a password, it must be read back to check codes.
 */
export const MfaEnrollmentSchema = defineEntity({
  name: 'MfaEnrollment',
  tableName: 'mfa_enrollments',
  properties: {
    ...entityBase,
    user: () => p.manyToOne(User).ref().deleteRule('cascade').unique(),
    /** The Base32 secret, AES-256-GCM-encrypted under a key derived from MFA_ENCRYPTION_KEY and bound to the user's id. */
    encryptedSecret: p.text(),
    /** When a first code confirmed the enrollment; null while it is pending. */
    confirmedAt: p.datetime().nullable(),
    /** The newest TOTP time step a code was accepted for: codes of it and earlier steps are refused, so none works twice. */
    lastUsedTimeStep: p.integer().nullable(),
  },
});

export class MfaEnrollment extends MfaEnrollmentSchema.class {}
MfaEnrollmentSchema.setClass(MfaEnrollment);
