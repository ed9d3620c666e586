import { randomBytes } from 'node:crypto';
import { Role, signAccessToken } from '@nexusflow/kit';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { RefreshToken } from '../entities/refresh-token.entity.ts';
import { Tenant } from '../entities/tenant.entity.ts';
import { User } from '../entities/user.entity.ts';
import { hashPassword, UNKNOWN_USER_PASSWORD_HASH, verifyPassword } from './passwords.ts';
import { hashRefreshToken, newRefreshToken } from './refresh-tokens.ts';
import { fieldProblems, registrationSchema, slugify, type FieldProblem } from './validation.ts';

export interface AuthSettings {
  jwtSecret: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  now?: () => number;
}

export interface AuthSession {
  __typename: 'AuthSession';
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  user: User;
}

export type RegisterResult =
  | AuthSession
  | { __typename: 'EmailAlreadyRegistered'; message: string; email: string }
  | { __typename: 'InvalidInput'; message: string; fields: FieldProblem[] };

export type LoginResult = AuthSession | { __typename: 'InvalidCredentials'; message: string };

export type RefreshTokenProblem = 'INVALID' | 'REUSED' | 'REVOKED';

export type RefreshSessionResult = AuthSession | { __typename: 'InvalidRefreshToken'; message: string; problem: RefreshTokenProblem };

const invalidCredentials = { __typename: 'InvalidCredentials', message: 'Email or password is incorrect' } as const;

const refreshProblemMessages: Record<RefreshTokenProblem, string> = {
  INVALID: 'Refresh token is invalid or expired',
  REUSED: 'Refresh token was already used; the session has been revoked',
  REVOKED: 'The session has ended; sign in again',
};

export class AuthService {
  private readonly now: () => number;

  constructor(private readonly settings: AuthSettings) {
    this.now = settings.now ?? Date.now;
  }

  async register(em: EntityManager, input: unknown): Promise<RegisterResult> {
    const parsed = registrationSchema.safeParse(input);
    if (!parsed.success) {
      return { __typename: 'InvalidInput', message: 'Some fields are invalid', fields: fieldProblems(parsed.error) };
    }
    const { email, password, name, tenantName } = parsed.data;
    const emailTaken = { __typename: 'EmailAlreadyRegistered', message: 'An account with this email already exists', email } as const;
    if (await em.count(User, { email })) return emailTaken;

    const passwordHash = await hashPassword(password);
    try {
      // One flush, one transaction: the tenant, its owner and the first session exist together or not at all.
      const tenant = em.create(Tenant, { name: tenantName, slug: await this.freeSlug(em, slugify(tenantName)) });
      const user = em.create(User, { email, name, passwordHash, roles: [Role.Owner], tenant });
      return await this.startSession(em, user, crypto.randomUUID());
    } catch (error) {
      // Two registrations of one email can pass the check above together; the unique index decides.
      if (error instanceof UniqueConstraintViolationException) return emailTaken;
      throw error;
    }
  }

  async login(em: EntityManager, email: string, password: string): Promise<LoginResult> {
    const user = await em.findOne(User, { email: email.trim().toLowerCase() }, { populate: ['passwordHash'] });
    const matches = await verifyPassword(password, user?.passwordHash ?? UNKNOWN_USER_PASSWORD_HASH);
    if (!user || !matches) return invalidCredentials;
    return this.startSession(em, user, crypto.randomUUID());
  }

  /**
   * Rotates a refresh token. Each token works once: presenting one that was already used means it
   * leaked, so every token of its family is revoked and both holders must sign in again.
   */
  async refresh(em: EntityManager, presented: string): Promise<RefreshSessionResult> {
    const fail = (problem: RefreshTokenProblem) =>
      ({ __typename: 'InvalidRefreshToken', message: refreshProblemMessages[problem], problem }) as const;
    const stored = await em.findOne(RefreshToken, { tokenHash: hashRefreshToken(presented) }, { populate: ['user'] });
    const now = new Date(this.now());
    if (!stored || stored.expiresAt <= now) return fail('INVALID');
    if (stored.revokedAt) return fail('REVOKED');
    // The conditional update makes two concurrent refreshes with one token resolve to one winner.
    const claimed = await em.nativeUpdate(RefreshToken, { id: stored.id, usedAt: null, revokedAt: null }, { usedAt: now });
    if (claimed === 0) {
      await this.revokeFamily(em, stored.familyId, now);
      return fail('REUSED');
    }
    return this.startSession(em, stored.user.getEntity(), stored.familyId);
  }

  async logout(em: EntityManager, presented: string): Promise<boolean> {
    const stored = await em.findOne(RefreshToken, { tokenHash: hashRefreshToken(presented) });
    if (!stored) return false;
    return (await this.revokeFamily(em, stored.familyId, new Date(this.now()))) > 0;
  }

  private revokeFamily(em: EntityManager, familyId: string, now: Date): Promise<number> {
    return em.nativeUpdate(RefreshToken, { familyId, revokedAt: null }, { revokedAt: now });
  }

  private async startSession(em: EntityManager, user: User, familyId: string): Promise<AuthSession> {
    const now = this.now();
    const access = await signAccessToken(
      { userId: user.id, tenantId: user.tenant.id, roles: user.roles },
      this.settings.jwtSecret,
      this.settings.accessTokenTtlSeconds,
      now,
    );
    const refreshToken = newRefreshToken();
    const refreshTokenExpiresAt = new Date(now + this.settings.refreshTokenTtlSeconds * 1000);
    em.create(RefreshToken, { tokenHash: hashRefreshToken(refreshToken), familyId, user, expiresAt: refreshTokenExpiresAt });
    await em.flush();
    return {
      __typename: 'AuthSession',
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      refreshTokenExpiresAt,
      user,
    };
  }

  private async freeSlug(em: EntityManager, base: string): Promise<string> {
    if ((await em.count(Tenant, { slug: base })) === 0) return base;
    return `${base}-${randomBytes(3).toString('hex')}`;
  }
}
