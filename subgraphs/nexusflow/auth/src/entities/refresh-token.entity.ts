import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { User } from './user.entity.ts';

/**
 * One link of a rotating refresh-token chain. Only a hash of the token is stored. All tokens issued
 * from one sign-in share a `familyId`, so that presenting a used token can revoke the whole chain.
 */
export const RefreshTokenSchema = defineEntity({
  name: 'RefreshToken',
  tableName: 'refresh_tokens',
  properties: {
    ...entityBase,
    tokenHash: p.string().unique(),
    familyId: p.uuid().index(),
    user: () => p.manyToOne(User).ref().deleteRule('cascade').index(),
    /** The tenant the session works in; a refresh stays there, switchTenant moves it. */
    tenantId: p.uuid(),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});

export class RefreshToken extends RefreshTokenSchema.class {}
RefreshTokenSchema.setClass(RefreshToken);
