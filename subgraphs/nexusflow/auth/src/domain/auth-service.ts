import { randomBytes } from 'node:crypto';
import {
  clientError,
  ErrorCode,
  hashPassword,
  isUuid,
  recordEvent,
  requireUser,
  Role,
  signAccessToken,
  systemFork,
  verifyPassword,
  verifyPasswordOfUnknownUser,
  type Identity,
} from '@nexusflow/kit';
import { LockMode, UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { Membership } from '../entities/membership.entity.ts';
import { RefreshToken } from '../entities/refresh-token.entity.ts';
import { Session } from '../entities/session.entity.ts';
import { Tenant } from '../entities/tenant.entity.ts';
import { User } from '../entities/user.entity.ts';
import { clientNetwork } from './client-networks.ts';
import type { Mfa, MfaRequired } from './mfa.ts';
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
  /** Called with each user `register` creates, before the flush that creates it: what it adds is committed with the user. */
  onRegistered?: (em: EntityManager, user: User) => void;
  /** Called after a flush that wrote events to the outbox, so that the relay publishes them without waiting for its poll. */
  onEventsRecorded?: () => void;
  /** Two-factor authentication: a password sign-in of a person with MFA on stops at its challenge. */
  mfa?: Mfa;
  now?: () => number;
}

export interface AuthSession {
  __typename: 'AuthSession';
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  /** The signed-in user as a member of the tenant the session works in. */
  user: Membership;
}

/** How a person proved who they are; recorded with `user.login` events. */
export type SignInMethod = 'password' | 'registration' | 'invitation' | 'oidc' | 'saml' | 'mfa' | 'password-reset';

/** Signing in to a tenant the person is no member of (or, with no tenant named, to none at all). */
export interface NotAMember {
  __typename: 'NotAMember';
  message: string;
  tenantId: string | null;
}

const notAMember = (tenantId: string | null): NotAMember => ({
  __typename: 'NotAMember',
  message: tenantId ? `You are not a member of tenant ${tenantId}` : 'You are not a member of any tenant; accept an invitation first',
  tenantId,
});

export type SignInResult = AuthSession | NotAMember;

export type RegisterResult =
  | AuthSession
  | { __typename: 'EmailAlreadyRegistered'; message: string; email: string }
  | { __typename: 'InvalidInput'; message: string; fields: FieldProblem[] };

export type LoginResult = SignInResult | MfaRequired | { __typename: 'InvalidCredentials'; message: string };

export type SwitchTenantResult = SignInResult;

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

export const normaliseEmail = (email: string) => email.trim().toLowerCase();

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
      const user = em.create(User, { email, name, passwordHash });
      this.settings.onRegistered?.(em, user);
      const membership = await this.createPersonalTenant(em, user, tenantName);
      recordEvent(em, { type: 'user.registered', tenantId: membership.tenant.id, payload: { userId: user.id, method: 'password' } });
      return await this.startSession(em, membership, crypto.randomUUID(), { clientAddress, userAgent }, true, 'registration');
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
  async login(
    em: EntityManager,
    input: { email: string; password: string; tenantId?: string | null },
    clientAddress?: string,
    userAgent?: string,
  ): Promise<LoginResult> {
    const account = normaliseEmail(input.email);
    const { refundAddressAttempt } = await this.admitSignIn(em, account, clientAddress);
    const user = await em.findOne(User, { email: account }, { populate: ['passwordHash'] });
    const matches = user?.passwordHash
      ? await verifyPassword(input.password, user.passwordHash)
      : await verifyPasswordOfUnknownUser(input.password);
    if (!user || !matches) {
      // Only registered emails are recorded: an event per guessed address would fill the log with strangers' emails.
      if (user) {
        recordEvent(em, { type: 'user.login.failed', payload: { userId: user.id, reason: 'wrong-password' } });
        await em.flush();
        this.eventsRecorded();
      }
      return invalidCredentials;
    }
    await this.loginsPerAccount.clear(em, account);
    await refundAddressAttempt();
    return this.signIn(em, user, { tenantId: input.tenantId ?? undefined }, { clientAddress, userAgent }, 'password');
  }

  /**
   * The one way into a session, whatever proved the person's identity: picks the tenant (the one named, else the one
   * they worked in last) and starts a session there. `em` is a system unit of work. A password of a person with MFA on
   * leads to an {@link MfaRequired} challenge for that tenant instead, which completeMfaSignIn finishes (method `mfa`).
   * Identity providers (OIDC, SAML) are trusted for their own second factors and skip the local one.
   */
  async signIn(
    em: EntityManager,
    user: User,
    options: { tenantId?: string | undefined },
    client: SessionClient,
    method: 'password',
  ): Promise<SignInResult | MfaRequired>;
  async signIn(
    em: EntityManager,
    user: User,
    options: { tenantId?: string | undefined },
    client: SessionClient,
    method: Exclude<SignInMethod, 'password'>,
  ): Promise<SignInResult>;
  async signIn(
    em: EntityManager,
    user: User,
    options: { tenantId?: string | undefined },
    client: SessionClient,
    method: SignInMethod,
  ): Promise<SignInResult | MfaRequired> {
    const membership = await this.membershipToSignInto(em, user, options.tenantId);
    if (!membership) return notAMember(options.tenantId ?? null);
    const { mfa } = this.settings;
    if (method === 'password' && mfa && (await mfa.isEnabled(em, user))) return mfa.challenge(em, user, membership.tenant.id);
    return this.startSession(em, membership, crypto.randomUUID(), client, true, method);
  }

  /**
   * Signs in a person an identity provider vouched for (OIDC, SAML), by verified email: an unknown email becomes a
   * user without a password, who owns a new tenant of their own unless a tenant is named. With a tenant named (SAML's
   * just-in-time membership), a new person becomes a member there with `jitRole`, and a member signs into it; an
   * existing account that is no member is refused (`NotAMember`): a tenant's own identity provider vouches for people
   * of that tenant only, and would otherwise sign in as anyone whose email it names, then reach their other tenants.
   */
  async signInExternal(
    em: EntityManager,
    profile: { email: string; name: string },
    options: { tenantId?: string; jitRole?: Role },
    client: SessionClient,
    method: 'oidc' | 'saml',
  ): Promise<SignInResult> {
    const email = normaliseEmail(profile.email);
    const existing = await em.findOne(User, { email });
    if (existing) {
      if (options.tenantId && !(await em.findOne(Membership, { user: existing, tenant: options.tenantId }))) {
        return notAMember(options.tenantId);
      }
      return this.signIn(em, existing, { tenantId: options.tenantId }, client, method);
    }
    // The provider vouched for the address.
    const user = em.create(User, { email, name: profile.name.trim() || email, passwordHash: null, emailVerifiedAt: new Date(this.now()) });
    if (!options.tenantId) {
      const membership = await this.createPersonalTenant(em, user, `${user.name}'s workspace`);
      recordEvent(em, { type: 'user.registered', tenantId: membership.tenant.id, payload: { userId: user.id, method } });
      return this.startSession(em, membership, crypto.randomUUID(), client, true, method);
    }
    recordEvent(em, { type: 'user.registered', tenantId: options.tenantId, payload: { userId: user.id, method } });
    const role = options.jitRole ?? Role.Member;
    // The entity, not a reference: the session's answer names the tenant, and its caller has no tenant scope yet.
    const tenant = await em.findOneOrFail(Tenant, { id: options.tenantId });
    const membership = em.create(Membership, { tenant, user, role, lastActiveAt: null });
    recordEvent(em, { type: 'member.joined', tenantId: options.tenantId, payload: { userId: user.id, role, method } });
    return this.startSession(em, membership, crypto.randomUUID(), client, true, method);
  }

  /**
   * Before an email an identity provider vouches for is linked to an account whose email was never verified: whoever
   * registered that account may not own the address (a pre-account takeover), so its password and sessions go. The
   * owner, now signed in through the provider, sets a password through a reset if they want one. `em` is a system unit
   * of work.
   */
  async claimUnverifiedAccount(em: EntityManager, user: User): Promise<void> {
    if (user.emailVerifiedAt) return;
    user.passwordHash = null;
    await this.settings.sessions.endAllOfUser(em, user.id);
  }

  /**
   * Refuses what changes a person's account across their tenants (their second factor, their linked identities) to a
   * session a tenant's own identity provider started: it vouches for the person in that tenant only, and its OWNER could
   * otherwise enrol an authenticator of their own on a member's account and hold the member's other sign-ins.
   */
  async requireAccountWideSession(em: EntityManager, identity: Identity): Promise<void> {
    const caller = requireUser(identity);
    if (caller.sessionId && (await this.isTenantBound(systemFork(em), caller.sessionId))) {
      throw clientError(
        ErrorCode.Forbidden,
        "A session started through this organisation's single sign-on cannot change the account itself; sign in with your password",
      );
    }
  }

  private async isTenantBound(em: EntityManager, sessionId: string): Promise<boolean> {
    return (await em.findOne(Session, { id: sessionId }))?.tenantBound === true;
  }

  /**
   * Moves the caller's session to another tenant they are a member of: a new access token names it, and a new refresh
   * token continues there. The session's earlier refresh tokens stop working (they would lead back).
   */
  async switchTenant(em: EntityManager, identity: Identity, tenantId: string, client: SessionClient = {}): Promise<SwitchTenantResult> {
    const caller = requireUser(identity);
    const system = systemFork(em);
    const membership = await system.findOne(Membership, { user: caller.userId, tenant: tenantId }, { populate: ['user', 'tenant'] });
    if (!membership) return notAMember(tenantId);
    // API keys belong to one tenant and have no session to move: they sign in to the new tenant like anyone else would.
    if (!caller.sessionId) throw clientError(ErrorCode.Forbidden, 'Only a signed-in person can switch tenants; API keys belong to one');
    if (await this.isTenantBound(system, caller.sessionId)) {
      throw clientError(
        ErrorCode.Forbidden,
        "A session started through this organisation's single sign-on stays in it; sign in again to reach another organisation",
      );
    }
    await system.nativeUpdate(RefreshToken, { familyId: caller.sessionId, revokedAt: null }, { revokedAt: new Date(this.now()) });
    return this.startSession(system, membership, caller.sessionId, client, false, undefined);
  }
  /** Tells the outbox relay that a flush wrote events, so that it publishes them now rather than at its next poll. */
  eventsRecorded(): void {
    this.settings.onEventsRecorded?.();
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
    const stored = await em.findOne(RefreshToken, { tokenHash: hashRefreshToken(presented) });
    const now = new Date(this.now());
    if (!stored || stored.expiresAt <= now) return fail('INVALID');
    if (stored.revokedAt) return fail('REVOKED');
    const outcome = await em.transactional(async (tx): Promise<{ result: RefreshSessionResult; endSession?: true }> => {
      // The session's row is held until the new refresh token is stored: a revocation that comes meanwhile waits for it
      // and then revokes the new token with the rest, and one that came first is seen here. Without the lock, a token
      // stored just after a revocation outlived it.
      const session = await tx.findOne(Session, { id: stored.familyId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (session?.revokedAt) return { result: fail('REVOKED') };
      // The conditional update makes two concurrent refreshes with one token resolve to one winner.
      const claimed = await tx.nativeUpdate(RefreshToken, { id: stored.id, usedAt: null, revokedAt: null }, { usedAt: now });
      if (claimed === 0) return { result: fail('REUSED'), endSession: true };
      // A member removed since signing in keeps no way back into the tenant.
      const membership = await tx.findOne(Membership, { user: stored.user, tenant: stored.tenantId }, { populate: ['user', 'tenant'] });
      if (!membership) return { result: fail('REVOKED'), endSession: true };
      return { result: await this.startSession(tx, membership, stored.familyId, client, false, undefined) };
    });
    // After the commit and outside the lock: ending a session also tells Redis, whose failure must not undo it.
    if (outcome.endSession) await this.settings.sessions.endById(em, stored.familyId);
    return outcome.result;
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

  /** The membership a sign-in lands in: the tenant named, else the one worked in last, else the oldest. */
  private async membershipToSignInto(em: EntityManager, user: User, tenantId: string | undefined): Promise<Membership | null> {
    if (tenantId !== undefined) {
      return isUuid(tenantId) ? em.findOne(Membership, { user, tenant: tenantId }, { populate: ['user', 'tenant'] }) : null;
    }
    const [latest] = await em.find(
      Membership,
      { user },
      { populate: ['user', 'tenant'], orderBy: { lastActiveAt: 'desc nulls last', createdAt: 'asc', id: 'asc' }, limit: 1 },
    );
    return latest ?? null;
  }

  /** A new tenant owned by `user`, for registration and for people an identity provider brings in without one. */
  private async createPersonalTenant(em: EntityManager, user: User, tenantName: string): Promise<Membership> {
    const tenant = em.create(Tenant, { name: tenantName, slug: await this.freeSlug(em, slugify(tenantName)) });
    return em.create(Membership, { tenant, user, role: Role.Owner, lastActiveAt: null });
  }

  /**
   * Issues the session's tokens for the membership's tenant and role. `method` is set for a sign-in (recorded as a
   * `user.login` event) and unset for a refresh or a switch of tenant within a session.
   */
  private async startSession(
    em: EntityManager,
    membership: Membership,
    familyId: string,
    client: SessionClient,
    started: boolean,
    method: SignInMethod | undefined,
  ): Promise<AuthSession> {
    const now = this.now();
    const user = membership.user.getEntity();
    const tenantId = membership.tenant.id;
    const access = await signAccessToken(
      { userId: user.id, tenantId, roles: [membership.role], sessionId: familyId },
      this.settings.jwtSecret,
      this.settings.accessTokenTtlSeconds,
      now,
    );
    const refreshToken = newRefreshToken();
    const refreshTokenExpiresAt = new Date(now + this.settings.refreshTokenTtlSeconds * 1000);
    em.create(RefreshToken, { tokenHash: hashRefreshToken(refreshToken), familyId, user, tenantId, expiresAt: refreshTokenExpiresAt });
    await this.settings.sessions.record(em, user, tenantId, familyId, client, refreshTokenExpiresAt, started, method === 'saml');
    membership.lastActiveAt = new Date(now);
    if (method) recordEvent(em, { type: 'user.login', tenantId, payload: { userId: user.id, sessionId: familyId, method } }, new Date(now));
    await em.flush();
    this.eventsRecorded();
    return {
      __typename: 'AuthSession',
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      refreshTokenExpiresAt,
      user: membership,
    };
  }

  private async freeSlug(em: EntityManager, base: string): Promise<string> {
    if ((await em.count(Tenant, { slug: base })) === 0) return base;
    return `${base}-${randomBytes(3).toString('hex')}`;
  }
}
