import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import {
  ADMIN_ROLES,
  badUserInput,
  clientError,
  ErrorCode,
  hashPassword,
  hasRole,
  pageSize,
  parseInput,
  requireRole,
  requireUser,
  requireUuid,
  Role,
  systemFork,
  unauthenticated,
  verifyPassword,
  verifyPasswordOfUnknownUser,
  WRITER_ROLES,
  type EntityManager,
  type Forkable,
  type Identity,
  type RateLimiter,
} from '@nexusflow/kit';
import { z } from 'zod';
import { EmailVerification } from '../entities/email-verification.entity.ts';
import { Organisation } from '../entities/organisation.entity.ts';
import { User } from '../entities/user.entity.ts';
import type { UserSessions } from './user-sessions.ts';
import type { VerificationMailer } from './verification-mailer.ts';

const MAX_PAGE = 100;

const email = z.string().trim().toLowerCase().max(254, 'must be at most 254 characters').pipe(z.email('must be an email address'));
const password = z.string().min(12, 'must be at least 12 characters').max(200, 'must be at most 200 characters');
const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

const registerSchema = z.object({ email, password, name, organisationName: name });
const createUserSchema = z.object({ email, password, name, role: z.enum(Role) });
const profileSchema = z.object({ name });
const changePasswordSchema = z.object({ currentPassword: z.string().max(200), newPassword: password });
const credentialsSchema = z.object({ email: z.string().trim().toLowerCase().max(254), password: z.string().max(200) });

type Problem<Name extends string, Fields> = { __typename: Name } & Fields;
export type RegisterResult = { __typename: 'Registered'; user: User } | Problem<'EmailAlreadyRegistered', { email: string }>;
export type CreateUserResult = User | Problem<'EmailAlreadyRegistered', { email: string }>;
export type VerifyEmailResult = User | Problem<'InvalidVerificationToken', { message: string }>;
export type ChangePasswordResult = User | Problem<'IncorrectPassword', { message: string }>;
export type UserStatusResult = User | Problem<'UserNotFound', { id: string }> | Problem<'UserChangeNotAllowed', { message: string }>;
export type CredentialCheck =
  | { __typename: 'ValidCredentials'; userId: string; tenantId: string; role: Role; email: string; name: string }
  | Problem<'InvalidCredentials', { message: string }>
  | Problem<'DeactivatedAccount', { message: string }>;

const INVALID_CREDENTIALS: CredentialCheck = { __typename: 'InvalidCredentials', message: 'The email or password is wrong' };
const INVALID_TOKEN: VerifyEmailResult = {
  __typename: 'InvalidVerificationToken',
  message: 'The link is unknown, used already or expired: ask for a new one',
};

const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

export interface UserAccountsOptions {
  mailer: VerificationMailer;
  sessions: UserSessions;
  limiter: RateLimiter;
  rateLimits: { registerPerAddress: number; resendVerificationPerAccount: number; changePasswordPerAccount: number; periodMs: number };
  verificationUrl: string;
  verificationTtlMs: number;
  now: () => Date;
}

/**
 * Users and their organisations: registration, profiles, email verification, passwords, deactivation, and the
 * credential check auth-service signs people in with. Emails are unique across organisations: signing in names none.
 */
export class UserAccounts {
  constructor(private readonly options: UserAccountsOptions) {}

  /** Anyone may register: a new organisation, with the new user as its OWNER. */
  async register(from: Forkable, input: unknown, clientAddress: string | undefined): Promise<RegisterResult> {
    const parsed = parseInput(registerSchema, input, ['input']);
    if (clientAddress) await this.consume(`register:address:${clientAddress}`, this.options.rateLimits.registerPerAddress);
    const em = systemFork(from);
    const tenantId = randomUUID();
    const passwordHash = await hashPassword(parsed.password);
    em.create(Organisation, { id: tenantId, tenantId, name: parsed.organisationName });
    const user = em.create(User, { tenantId, email: parsed.email, name: parsed.name, role: Role.Owner, passwordHash });
    const token = this.newVerification(em, user);
    if (!(await this.flushUnlessTaken(em))) return { __typename: 'EmailAlreadyRegistered', email: parsed.email };
    await this.sendVerification(user, token);
    return { __typename: 'Registered', user };
  }

  /** An OWNER or ADMIN adds a user; only an OWNER makes another OWNER. */
  async createUser(em: EntityManager, identity: Identity, input: unknown): Promise<CreateUserResult> {
    const caller = requireRole(identity, ADMIN_ROLES);
    const parsed = parseInput(createUserSchema, input, ['input']);
    if (parsed.role === Role.Owner && !hasRole(caller, Role.Owner)) {
      throw badUserInput('"input.role" OWNER is given by an OWNER only', { field: 'input.role' });
    }
    const user = em.create(User, {
      tenantId: caller.tenantId,
      email: parsed.email,
      name: parsed.name,
      role: parsed.role,
      passwordHash: await hashPassword(parsed.password),
    });
    const token = this.newVerification(em, user);
    if (!(await this.flushUnlessTaken(em))) return { __typename: 'EmailAlreadyRegistered', email: parsed.email };
    await this.sendVerification(user, token);
    return user;
  }

  async me(em: EntityManager, identity: Identity): Promise<User> {
    const caller = requireUser(identity);
    const user = await em.findOne(User, { id: caller.userId });
    // A token outliving its user (deleted data) reads as signed out, not as an error.
    if (!user) throw unauthenticated('Your account no longer exists; sign in again');
    return user;
  }

  async list(em: EntityManager, identity: Identity, first: number): Promise<User[]> {
    requireUser(identity);
    const limit = pageSize(first, MAX_PAGE);
    if (limit === 0) return [];
    return em.find(User, {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  /** Anyone holding the link's token: the token alone says whose address it proves. */
  async verifyEmail(from: Forkable, token: string): Promise<VerifyEmailResult> {
    const em = systemFork(from);
    const verification = await em.findOne(EmailVerification, { tokenHash: hashToken(token) });
    const now = this.options.now();
    if (!verification || verification.usedAt || verification.expiresAt <= now) return INVALID_TOKEN;
    const user = await em.findOne(User, { id: verification.userId, tenantId: verification.tenantId });
    if (!user || user.email !== verification.email) return INVALID_TOKEN;
    // Single use, even when two requests race with the same token: only one update finds it unused.
    const claimed = await em.nativeUpdate(EmailVerification, { id: verification.id, usedAt: null }, { usedAt: now });
    if (claimed === 0) return INVALID_TOKEN;
    user.emailVerifiedAt ??= now;
    await em.flush();
    return user;
  }

  /** A new link for the caller, voiding the earlier ones; false when their email is verified already. */
  async resendVerification(em: EntityManager, identity: Identity): Promise<boolean> {
    const user = await this.me(em, identity);
    if (user.emailVerifiedAt) return false;
    await this.consume(`resend-verification:account:${user.id}`, this.options.rateLimits.resendVerificationPerAccount);
    await em.nativeUpdate(EmailVerification, { userId: user.id, usedAt: null }, { usedAt: this.options.now() });
    const token = this.newVerification(em, user);
    await em.flush();
    await this.sendVerification(user, token);
    return true;
  }

  async updateProfile(em: EntityManager, identity: Identity, input: unknown): Promise<User> {
    requireRole(identity, WRITER_ROLES);
    const parsed = parseInput(profileSchema, input, ['input']);
    const user = await this.me(em, identity);
    user.name = parsed.name;
    await em.flush();
    return user;
  }

  async changePassword(em: EntityManager, identity: Identity, input: unknown): Promise<ChangePasswordResult> {
    requireRole(identity, WRITER_ROLES);
    const parsed = parseInput(changePasswordSchema, input, ['input']);
    const user = await this.me(em, identity);
    // Counted before the current password is checked: guessing it is what the limit stops.
    await this.consume(`change-password:account:${user.id}`, this.options.rateLimits.changePasswordPerAccount);
    await em.populate(user, ['passwordHash']);
    if (!(await verifyPassword(parsed.currentPassword, user.passwordHash))) {
      return { __typename: 'IncorrectPassword', message: 'The current password is wrong' };
    }
    user.passwordHash = await hashPassword(parsed.newPassword);
    await em.flush();
    // Whoever held the old password may be signed in with it: every session, this one too, ends with it.
    await this.options.sessions.endAll(identity, null);
    return user;
  }

  async setActive(em: EntityManager, identity: Identity, id: string, active: boolean): Promise<UserStatusResult> {
    const caller = requireRole(identity, ADMIN_ROLES);
    requireUuid(id, 'id');
    const user = await em.findOne(User, { id });
    if (!user) return { __typename: 'UserNotFound', id };
    if (user.id === caller.userId) return { __typename: 'UserChangeNotAllowed', message: 'You cannot change your own standing' };
    if (user.role === Role.Owner && !hasRole(caller, Role.Owner)) {
      return { __typename: 'UserChangeNotAllowed', message: 'Only an OWNER changes the standing of an OWNER' };
    }
    user.deactivatedAt = active ? null : (user.deactivatedAt ?? this.options.now());
    user.deactivatedBy = active ? null : caller.userId;
    await em.flush();
    // Deactivating again after a failure here finishes the job: ending sessions twice is harmless.
    if (!active) await this.options.sessions.endAll(caller, user.id);
    return user;
  }

  /**
   * Whether an email and password are a user's. It takes as long for an unknown email as for a wrong password (a
   * password is hashed either way), so that timing does not tell which emails are registered.
   */
  async checkCredentials(from: Forkable, input: unknown): Promise<CredentialCheck> {
    const parsed = parseInput(credentialsSchema, input, ['input']);
    const em = systemFork(from);
    const user = await em.findOne(User, { email: parsed.email }, { populate: ['passwordHash'] });
    if (!user) return verifyPasswordOfUnknownUser(parsed.password).then(() => INVALID_CREDENTIALS);
    if (!(await verifyPassword(parsed.password, user.passwordHash))) return INVALID_CREDENTIALS;
    return this.standingOf(user);
  }

  /** The calling user's standing now: their role may have changed, or they may have been deactivated, since sign-in. */
  async signInStanding(em: EntityManager, identity: Identity): Promise<CredentialCheck> {
    const caller = requireUser(identity);
    const user = await em.findOne(User, { id: caller.userId });
    return user ? this.standingOf(user) : INVALID_CREDENTIALS;
  }

  /** Any user's standing, by id (the caller is another service, not a user): unknown ids read as invalid. */
  async userStanding(from: Forkable, id: string): Promise<CredentialCheck> {
    requireUuid(id, 'id');
    const user = await systemFork(from).findOne(User, { id });
    return user ? this.standingOf(user) : INVALID_CREDENTIALS;
  }

  private standingOf(user: User): CredentialCheck {
    if (user.deactivatedAt) return { __typename: 'DeactivatedAccount', message: 'This account was deactivated by its organisation' };
    return {
      __typename: 'ValidCredentials',
      userId: user.id,
      tenantId: user.tenantId,
      role: user.role,
      email: user.email,
      name: user.name,
    };
  }

  /** Counts one attempt against the budget of `key`; over it, RATE_LIMITED says when to try again. */
  private async consume(key: string, limit: number): Promise<void> {
    const decision = await this.options.limiter.consume([{ key, limit, periodMs: this.options.rateLimits.periodMs }]);
    if (!decision.allowed) {
      throw clientError(ErrorCode.RateLimited, `Too many attempts; try again in ${decision.retryAfterSeconds} seconds`, {
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
  }

  private newVerification(em: EntityManager, user: User): string {
    const token = randomBytes(32).toString('base64url');
    em.create(EmailVerification, {
      tenantId: user.tenantId,
      userId: user.id,
      email: user.email,
      tokenHash: hashToken(token),
      expiresAt: new Date(this.options.now().getTime() + this.options.verificationTtlMs),
    });
    return token;
  }

  private async sendVerification(user: User, token: string): Promise<void> {
    const link = new URL(this.options.verificationUrl);
    link.searchParams.set('token', token);
    await this.options.mailer.send({
      to: user.email,
      link: link.toString(),
      expiresAt: new Date(this.options.now().getTime() + this.options.verificationTtlMs),
    });
  }

  /** False when the email is taken: the unique index decides, so two registrations racing cannot both win. */
  private async flushUnlessTaken(em: EntityManager): Promise<boolean> {
    try {
      await em.flush();
      return true;
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) {
        em.clear();
        return false;
      }
      throw error;
    }
  }
}
