import { createHash, randomBytes } from 'node:crypto';
import {
  badUserInput,
  clientError,
  ErrorCode,
  forbidden,
  hashPassword,
  requireUser,
  verifyPassword,
  verifyPasswordOfUnknownUser,
  type EntityManager,
  type Identity,
} from '@nexusflow/kit';
import { AccountToken, AccountTokenPurpose } from '../entities/account-token.entity.ts';
import { User } from '../entities/user.entity.ts';
import type { ThrottlingSettings } from './auth-service.ts';
import { clientNetwork } from './client-networks.ts';
import type { EmailComposer, Mailer } from './mailer.ts';
import type { Sessions } from './sessions.ts';
import { Throttle, type QuotaPolicy } from './throttle.ts';
import { fieldProblems, registrationSchema, type FieldProblem } from './validation.ts';

export const VERIFY_EMAIL_TEMPLATE = 'auth.verify-email';
export const RESET_PASSWORD_TEMPLATE = 'auth.reset-password';

export interface PasswordLifecycleSettings {
  /** Where the links in emails point: `<appUrl>/verify-email?token=…`, `<appUrl>/reset-password?token=…`. */
  appUrl: string;
  emailVerificationTtlSeconds: number;
  passwordResetTtlSeconds: number;
  /** Wrong current passwords count as failed sign-ins of the account (and address). */
  throttling: ThrottlingSettings;
  passwordResetsPerAccount: QuotaPolicy;
  passwordResetsPerAddress: QuotaPolicy | undefined;
  verificationEmailsPerUser: QuotaPolicy;
  sessions: Sessions;
  mailer: Mailer;
  now: () => number;
}

type InvalidToken = { __typename: 'InvalidToken'; message: string };
type InvalidInput = { __typename: 'InvalidInput'; message: string; fields: FieldProblem[] };
type PasswordChanged = { __typename: 'PasswordChanged'; message: string; revokedSessionCount: number };

export type VerifyEmailResult = { __typename: 'EmailVerified'; message: string; email: string } | InvalidToken;
export type ResendVerificationEmailResult =
  | { __typename: 'VerificationEmailSent'; message: string; email: string }
  | { __typename: 'EmailAlreadyVerified'; message: string; email: string };
export type ResetPasswordResult = PasswordChanged | InvalidToken | InvalidInput;
export type ChangePasswordResult = PasswordChanged | { __typename: 'IncorrectPassword'; message: string } | InvalidInput;

const invalidToken: InvalidToken = { __typename: 'InvalidToken', message: 'This link is invalid, has expired or was already used' };
const RESET_REQUESTED_MESSAGE =
  'If an account with this email exists, a link to reset its password is on its way. It works once, for a limited time.';
const MAX_EMAIL_LENGTH = 254;

/** 256 random bits: a fast hash is enough to make a stolen table useless, as for refresh tokens. */
const newToken = () => randomBytes(32).toString('base64url');
const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

const passwordProblems = (password: unknown, field: string): FieldProblem[] => {
  const parsed = registrationSchema.shape.password.safeParse(password);
  return parsed.success ? [] : fieldProblems(parsed.error).map((problem) => ({ ...problem, field }));
};

const rateLimited = (what: string, retryAfterSeconds: number) =>
  clientError(ErrorCode.RateLimited, `Too many ${what}; try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s)`, {
    retryAfterSeconds,
  });

/**
 * Email verification, password reset and password change. Emails go through the {@link Mailer}: a request records one
 * in the same transaction and returns without waiting for the notifications service. Tokens are single-use, expire,
 * and are stored as SHA-256 only; the raw token exists in the email and, sealed, in the pending email until it is sent.
 */
export class PasswordLifecycle {
  private readonly loginsPerAccount: Throttle;
  private readonly loginsPerAddress: Throttle | undefined;
  private readonly resetsPerAccount: Throttle;
  private readonly resetsPerAddress: Throttle | undefined;
  private readonly verificationEmailsPerUser: Throttle;

  constructor(private readonly settings: PasswordLifecycleSettings) {
    const { now, throttling } = settings;
    // The scopes of sign-ins: a wrong current password is a failed sign-in of the account, counted with the others.
    this.loginsPerAccount = new Throttle('login-account', throttling.loginsPerAccount, now);
    this.loginsPerAddress = throttling.loginsPerAddress && new Throttle('login-address', throttling.loginsPerAddress, now);
    this.resetsPerAccount = new Throttle('password-reset-account', settings.passwordResetsPerAccount, now);
    this.resetsPerAddress =
      settings.passwordResetsPerAddress && new Throttle('password-reset-address', settings.passwordResetsPerAddress, now);
    this.verificationEmailsPerUser = new Throttle('verification-email', settings.verificationEmailsPerUser, now);
  }

  /** How the mailer writes this service's emails when it first sends them (see {@link Mailer.request}). */
  get composers(): Record<string, EmailComposer> {
    return {
      [VERIFY_EMAIL_TEMPLATE]: (em, request) => this.composeVerification(em, String(request.userId)),
      [RESET_PASSWORD_TEMPLATE]: (em, request) => this.composeReset(em, String(request.email)),
    };
  }

  /** Records the verification email of a new user; the caller's flush commits it with the user. */
  sendVerificationEmail(em: EntityManager, user: User): void {
    this.settings.mailer.request(em, VERIFY_EMAIL_TEMPLATE, { userId: user.id }, this.expiry(this.settings.emailVerificationTtlSeconds));
  }

  async verifyEmail(em: EntityManager, token: string): Promise<VerifyEmailResult> {
    const claimed = await this.claim(em, AccountTokenPurpose.VerifyEmail, token);
    if (!claimed) return invalidToken;
    const user = claimed.user.getEntity();
    user.emailVerifiedAt ??= new Date(this.settings.now());
    await em.flush();
    return { __typename: 'EmailVerified', message: 'Your email address is verified', email: user.email };
  }

  /** A new verification email for the signed-in user; earlier links keep working until they expire. */
  async resendVerificationEmail(em: EntityManager, identity: Identity): Promise<ResendVerificationEmailResult> {
    const user = await this.userOf(em, identity);
    if (user.emailVerifiedAt)
      return { __typename: 'EmailAlreadyVerified', message: 'Your email address is already verified', email: user.email };
    const admission = await this.verificationEmailsPerUser.admit(em, user.id);
    if (!admission.admitted) throw rateLimited('verification emails', admission.retryAfterSeconds);
    this.sendVerificationEmail(em, user);
    await em.flush();
    this.settings.mailer.wake();
    return { __typename: 'VerificationEmailSent', message: `A verification link is on its way to ${user.email}`, email: user.email };
  }

  /**
   * Answers the same, in the same time, whether or not the email is registered: the request only records a pending
   * email for the address, the same row either way, and the sender looks the account up later (no account: nothing is
   * sent). Throttled per email and per client address alike for registered and unknown emails.
   */
  async requestPasswordReset(em: EntityManager, email: string, clientAddress: string | undefined): Promise<{ message: string }> {
    const account = email.trim().toLowerCase();
    if (account.length > MAX_EMAIL_LENGTH) throw badUserInput(`email must have at most ${MAX_EMAIL_LENGTH} characters`, { field: 'email' });
    if (clientAddress !== undefined && this.resetsPerAddress) {
      const byAddress = await this.resetsPerAddress.admit(em, clientNetwork(clientAddress));
      if (!byAddress.admitted) throw rateLimited('password reset requests from this address', byAddress.retryAfterSeconds);
    }
    const byAccount = await this.resetsPerAccount.admit(em, account);
    if (!byAccount.admitted) throw rateLimited('password reset requests for this email', byAccount.retryAfterSeconds);
    this.settings.mailer.request(em, RESET_PASSWORD_TEMPLATE, { email: account }, this.expiry(this.settings.passwordResetTtlSeconds));
    await em.flush();
    this.settings.mailer.wake();
    return { message: RESET_REQUESTED_MESSAGE };
  }

  /** Sets a new password with a reset link's token; every session of the user ends, and their email counts as verified. */
  async resetPassword(em: EntityManager, token: string, newPassword: string): Promise<ResetPasswordResult> {
    const problems = passwordProblems(newPassword, 'newPassword');
    if (problems.length > 0) return { __typename: 'InvalidInput', message: 'Some fields are invalid', fields: problems };
    const passwordHash = await hashPassword(newPassword);
    const claimed = await this.claim(em, AccountTokenPurpose.ResetPassword, token);
    if (!claimed) return invalidToken;
    const user = claimed.user.getEntity();
    const now = new Date(this.settings.now());
    user.passwordHash = passwordHash;
    // Opening the link proved control of the address.
    user.emailVerifiedAt ??= now;
    await em.flush();
    // Other reset links of the user stop working: whoever holds one no longer needs it.
    await em.nativeUpdate(AccountToken, { user: user.id, purpose: AccountTokenPurpose.ResetPassword, usedAt: null }, { usedAt: now });
    const revokedSessionCount = await this.settings.sessions.endAllOfUser(em, user.id);
    await this.loginsPerAccount.clear(em, user.email);
    return { __typename: 'PasswordChanged', message: 'Your password is changed; sign in with it', revokedSessionCount };
  }

  /**
   * Changes the signed-in user's password. A wrong current password counts as a failed sign-in of the account and
   * address, under the same limits; success ends every other session of the user, and keeps this one.
   */
  async changePassword(
    em: EntityManager,
    identity: Identity,
    currentPassword: string,
    newPassword: string,
    clientAddress: string | undefined,
  ): Promise<ChangePasswordResult> {
    const user = await this.userOf(em, identity);
    const problems = passwordProblems(newPassword, 'newPassword');
    if (problems.length > 0) return { __typename: 'InvalidInput', message: 'Some fields are invalid', fields: problems };
    const byAddress =
      clientAddress !== undefined && this.loginsPerAddress
        ? await this.loginsPerAddress.admit(em, clientNetwork(clientAddress))
        : undefined;
    if (byAddress && !byAddress.admitted) throw rateLimited('failed sign-in attempts', byAddress.retryAfterSeconds);
    const byAccount = await this.loginsPerAccount.admit(em, user.email);
    if (!byAccount.admitted) {
      await byAddress?.refund();
      throw rateLimited('failed sign-in attempts', byAccount.retryAfterSeconds);
    }
    await em.populate(user, ['passwordHash']);
    const correct = user.passwordHash
      ? await verifyPassword(currentPassword, user.passwordHash)
      : await verifyPasswordOfUnknownUser(currentPassword);
    if (!correct) {
      return { __typename: 'IncorrectPassword', message: 'The current password is incorrect' };
    }
    await this.loginsPerAccount.clear(em, user.email);
    await byAddress?.refund();
    user.passwordHash = await hashPassword(newPassword);
    await em.flush();
    const session = requireUser(identity).sessionId;
    const revokedSessionCount = await this.settings.sessions.endAllOfUser(em, user.id, session);
    return { __typename: 'PasswordChanged', message: 'Your password is changed; your other sessions have ended', revokedSessionCount };
  }

  /** Deletes the throttle counters whose attempts have all stopped counting; returns how many. */
  async pruneThrottles(em: EntityManager): Promise<number> {
    let pruned = 0;
    for (const throttle of [this.resetsPerAccount, this.resetsPerAddress, this.verificationEmailsPerUser])
      pruned += (await throttle?.prune(em)) ?? 0;
    return pruned;
  }

  private async composeVerification(em: EntityManager, userId: string) {
    const user = await em.findOne(User, { id: userId });
    if (!user || user.emailVerifiedAt) return null;
    const token = this.issue(em, AccountTokenPurpose.VerifyEmail, user, this.settings.emailVerificationTtlSeconds);
    return {
      to: user.email,
      variables: {
        name: user.name,
        link: this.link('verify-email', token),
        expiresInHours: this.hours(this.settings.emailVerificationTtlSeconds),
      },
    };
  }

  private async composeReset(em: EntityManager, email: string) {
    const user = await em.findOne(User, { email });
    if (!user) return null;
    const token = this.issue(em, AccountTokenPurpose.ResetPassword, user, this.settings.passwordResetTtlSeconds);
    return {
      to: user.email,
      variables: {
        name: user.name,
        link: this.link('reset-password', token),
        expiresInHours: this.hours(this.settings.passwordResetTtlSeconds),
      },
    };
  }

  /** A new token of the user; the caller's flush stores its hash. */
  private issue(em: EntityManager, purpose: AccountTokenPurpose, user: User, ttlSeconds: number): string {
    const token = newToken();
    em.create(AccountToken, { purpose, tokenHash: hashToken(token), user, expiresAt: this.expiry(ttlSeconds), usedAt: null });
    return token;
  }

  /** Marks the token used, once: of two concurrent uses, one wins. Null for an unknown, expired or used token. */
  private async claim(em: EntityManager, purpose: AccountTokenPurpose, token: string): Promise<AccountToken | null> {
    const now = new Date(this.settings.now());
    const stored = await em.findOne(AccountToken, { tokenHash: hashToken(token), purpose }, { populate: ['user'] });
    if (!stored || stored.usedAt || stored.expiresAt <= now) return null;
    const claimed = await em.nativeUpdate(AccountToken, { id: stored.id, usedAt: null }, { usedAt: now });
    return claimed === 0 ? null : stored;
  }

  /** The signed-in person; API keys have no password or email of their own. */
  private async userOf(em: EntityManager, identity: Identity): Promise<User> {
    const caller = requireUser(identity);
    const user = await em.findOne(User, { id: caller.userId });
    if (!user) throw forbidden('Only people signed in with their account can do this, not API keys');
    return user;
  }

  private link(path: string, token: string): string {
    const url = new URL(path, this.settings.appUrl.endsWith('/') ? this.settings.appUrl : `${this.settings.appUrl}/`);
    url.searchParams.set('token', token);
    return url.toString();
  }

  private hours(seconds: number): number {
    return Math.max(1, Math.round(seconds / 3600));
  }

  private expiry(ttlSeconds: number): Date {
    return new Date(this.settings.now() + ttlSeconds * 1000);
  }
}
