import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { User } from './user.entity.ts';

export const AccountTokenPurpose = { VerifyEmail: 'verify-email', ResetPassword: 'reset-password' } as const;
export type AccountTokenPurpose = (typeof AccountTokenPurpose)[keyof typeof AccountTokenPurpose];

/**
 * A single-use secret emailed to a user as a link: it proves control of the address (verification) or lets them choose
 * a new password (reset). Only its SHA-256 is stored, as for refresh tokens: it is 256 random bits.
 */
export const AccountTokenSchema = defineEntity({
  name: 'AccountToken',
  tableName: 'account_tokens',
  properties: {
    ...entityBase,
    purpose: p.enum(() => AccountTokenPurpose),
    tokenHash: p.string().unique(),
    user: () => p.manyToOne(User).ref().deleteRule('cascade').index(),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
  },
});

export class AccountToken extends AccountTokenSchema.class {}
AccountTokenSchema.setClass(AccountToken);
