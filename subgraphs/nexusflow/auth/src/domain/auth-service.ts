import { randomBytes } from 'node:crypto';
import { clientError, ErrorCode, Role, signAccessToken } from '@nexusflow/kit';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { RefreshToken } from '../entities/refresh-token.entity.ts';
import { Tenant } from '../entities/tenant.entity.ts';
import { User } from '../entities/user.entity.ts';
import { clientNetwork } from './client-networks.ts';
import { hashPassword, UNKNOWN_USER_PASSWORD_HASH, verifyPassword } from './passwords.ts';
import { hashRefreshToken, newRefreshToken } from './refresh-tokens.ts';
import type { SessionClient, Sessions } from './sessions.ts';
import { Throttle, type BackoffPolicy, type QuotaPolicy } from './throttle.ts';
import { fieldProblems, registrationSchema, slugify, type FieldProblem } from './validation.ts';

/** How failed sign-ins and registrations are throttled; an unset policy is off. */
export interface ThrottlingSettings {
  /** Failed sign-ins per email, registered or not, from any address. */
  loginsPerAccount: BackoffPolicy;
  /** Failed sign-ins per client network (see {@link clientNetwork}), whatever the email. */
  loginsPerAddress: BackoffPolicy | undefined;
  registrationsPerAddress: QuotaPolicy | undefined;
}

export interface AuthSettings {
  jwtSecret: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  throttling: ThrottlingSettings;
  /** Where each sign-in is recorded, and ended by logout or a reused refresh token. */
  sessions: Sessions;
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

/** "8 seconds", "3 minutes", "2 hours": never shorter than the wait. */
function describeWait(seconds: number): string {
  const [amount, unit] =
    seconds < 60 ? [seconds, 'second'] : seconds < 2 * 3600 ? [Math.ceil(seconds / 60), 'minute'] : [Math.ceil(seconds / 3600), 'hour'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

const tooManySignInAttempts = (retryAfterSeconds: number) =>
  clientError(ErrorCode.RateLimited, `Too many failed sign-in attempts; try again in ${describeWait(retryAfterSeconds)}`, {
    retryAfterSeconds,
  });

const tooManyRegistrations = (retryAfterSeconds: number) =>
  clientError(ErrorCode.RateLimited, `Too many registrations from this address; try again in ${describeWait(retryAfterSeconds)}`, {
    retryAfterSeconds,
  });

const normaliseEmail = (email: string) => email.trim().toLowerCase();

const refreshProblemMessages: Record<RefreshTokenProblem, string> = {
  INVALID: 'Refresh token is invalid or expired',
  REUSED: 'Refresh token was already used; the session has been revoked',
  REVOKED: 'The session has ended; sign in again',
};

export class AuthService {
  private readonly now: () => number;
  private readonly loginsPerAccount: Throttle;
  private readonly loginsPerAddress: Throttle | undefined;
  private readonly registrationsPerAddress: Throttle | undefined;

  constructor(private readonly settings: AuthSettings) {
    this.now = settings.now ?? Date.now;
    const { throttling } = settings;
    this.loginsPerAccount = new Throttle('login-account', throttling.loginsPerAccount, this.now);
    this.loginsPerAddress = throttling.loginsPerAddress && new Throttle('login-address', throttling.loginsPerAddress, this.now);
    this.registrationsPerAddress =
      throttling.registrationsPerAddress && new Throttle('registration-address', throttling.registrationsPerAddress, this.now);
  }

  /**
   * Counts every valid registration attempt of a client address, taken or not: each new account is a
   * fresh sign-in budget, and each "already registered" answer tells whether an email exists.
   *
   * @param clientAddress the caller's address as the gateway signed it; unset for calls between services, which are not limited
   * @param userAgent the caller's User-Agent as the gateway signed it, recorded as the session's device
   */
  async register(em: EntityManager, input: unknown, clientAddress?: string, userAgent?: string): Promise<RegisterResult> {
    const parsed = registrationSchema.safeParse(input);
    if (!parsed.success) {
      return { __typename: 'InvalidInput', message: 'Some fields are invalid', fields: fieldProblems(parsed.error) };
    }
    if (clientAddress !== undefined && this.registrationsPerAddress) {
      const admission = await this.registrationsPerAddress.admit(em, clientNetwork(clientAddress));
      if (!admission.admitted) throw tooManyRegistrations(admission.retryAfterSeconds);
    }
    const { email, password, name, tenantName } = parsed.data;
    const emailTaken = { __typename: 'EmailAlreadyRegistered', message: 'An account with this email already exists', email } as const;
    if (await em.count(User, { email })) return emailTaken;

    const passwordHash = await hashPassword(password);
    try {
      // One flush, one transaction: the tenant, its owner and the first session exist together or not at all.
      const tenant = em.create(Tenant, { name: tenantName, slug: await this.freeSlug(em, slugify(tenantName)) });
      const user = em.create(User, { email, name, passwordHash, roles: [Role.Owner], tenant });
      return await this.startSession(em, user, crypto.randomUUID(), { clientAddress, userAgent }, true);
    } catch (error) {
      // Two registrations of one email can pass the check above together; the unique index decides.
      if (error instanceof UniqueConstraintViolationException) return emailTaken;
      throw error;
    }
  }

  /**
   * Checks the password only when neither the email nor the client address is over its allowance of
   * failures (RATE_LIMITED otherwise, even for the right password). Unknown emails are counted and
   * timed exactly like registered ones, so that neither answers nor delays tell which emails exist.
   *
   * @param clientAddress the caller's address as the gateway signed it; unset for calls between services, which are limited per email only
   * @param userAgent the caller's User-Agent as the gateway signed it, recorded as the session's device
   */
  async login(em: EntityManager, email: string, password: string, clientAddress?: string, userAgent?: string): Promise<LoginResult> {
    const account = normaliseEmail(email);
    const { refundAddressAttempt } = await this.admitSignIn(em, account, clientAddress);
    const user = await em.findOne(User, { email: account }, { populate: ['passwordHash', 'tenant'] });
    const matches = await verifyPassword(password, user?.passwordHash ?? UNKNOWN_USER_PASSWORD_HASH);
    if (!user || !matches) return invalidCredentials;
    await this.loginsPerAccount.clear(em, account);
    await refundAddressAttempt();
    return this.startSession(em, user, crypto.randomUUID(), { clientAddress, userAgent }, true);
  }

  /** Deletes the throttle counters whose attempts have all stopped counting; returns how many. */
  async pruneThrottles(em: EntityManager): Promise<number> {
    let pruned = 0;
    for (const throttle of [this.loginsPerAccount, this.loginsPerAddress, this.registrationsPerAddress])
      pruned += (await throttle?.prune(em)) ?? 0;
    return pruned;
  }

  /**
   * Rotates a refresh token. Each token works once: presenting one that was already used means it
   * leaked, so every token of its family is revoked and both holders must sign in again.
   */
  async refresh(em: EntityManager, presented: string, client: SessionClient = {}): Promise<RefreshSessionResult> {
    const fail = (problem: RefreshTokenProblem) =>
      ({ __typename: 'InvalidRefreshToken', message: refreshProblemMessages[problem], problem }) as const;
    const stored = await em.findOne(RefreshToken, { tokenHash: hashRefreshToken(presented) }, { populate: ['user.tenant'] });
    const now = new Date(this.now());
    if (!stored || stored.expiresAt <= now) return fail('INVALID');
    if (stored.revokedAt) return fail('REVOKED');
    // The conditional update makes two concurrent refreshes with one token resolve to one winner.
    const claimed = await em.nativeUpdate(RefreshToken, { id: stored.id, usedAt: null, revokedAt: null }, { usedAt: now });
    if (claimed === 0) {
      await this.settings.sessions.endById(em, stored.familyId);
      return fail('REUSED');
    }
    return this.startSession(em, stored.user.getEntity(), stored.familyId, client, false);
  }

  /** Ends the session (its refresh tokens, and its access tokens at the gateway) the refresh token belongs to. */
  async logout(em: EntityManager, presented: string): Promise<boolean> {
    const stored = await em.findOne(RefreshToken, { tokenHash: hashRefreshToken(presented) });
    if (!stored) return false;
    const live = await em.count(RefreshToken, { familyId: stored.familyId, revokedAt: null });
    await this.settings.sessions.endById(em, stored.familyId);
    return live > 0;
  }

  /**
   * Counts the attempt as a failure before the password is checked, so that parallel guesses cannot
   * all pass through one opening; a success takes it back. The address goes first: an address
   * spraying many emails is refused without touching their counters.
   */
  private async admitSignIn(em: EntityManager, account: string, clientAddress: string | undefined) {
    const byAddress =
      clientAddress !== undefined && this.loginsPerAddress
        ? await this.loginsPerAddress.admit(em, clientNetwork(clientAddress))
        : undefined;
    if (byAddress && !byAddress.admitted) throw tooManySignInAttempts(byAddress.retryAfterSeconds);
    const byAccount = await this.loginsPerAccount.admit(em, account);
    if (!byAccount.admitted) {
      await byAddress?.refund();
      throw tooManySignInAttempts(byAccount.retryAfterSeconds);
    }
    return { refundAddressAttempt: async () => byAddress?.refund() };
  }

  private async startSession(
    em: EntityManager,
    user: User,
    familyId: string,
    client: SessionClient,
    started: boolean,
  ): Promise<AuthSession> {
    const now = this.now();
    const access = await signAccessToken(
      { userId: user.id, tenantId: user.tenant.id, roles: user.roles, sessionId: familyId },
      this.settings.jwtSecret,
      this.settings.accessTokenTtlSeconds,
      now,
    );
    const refreshToken = newRefreshToken();
    const refreshTokenExpiresAt = new Date(now + this.settings.refreshTokenTtlSeconds * 1000);
    em.create(RefreshToken, { tokenHash: hashRefreshToken(refreshToken), familyId, user, expiresAt: refreshTokenExpiresAt });
    await this.settings.sessions.record(em, user, familyId, client, refreshTokenExpiresAt, started);
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
