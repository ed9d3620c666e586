import { clientError, ErrorCode, notFound, recordEvent, requireUser, type EntityManager, type Identity } from '@nexusflow/kit';
import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import { MfaChallenge } from '../entities/mfa-challenge.entity.ts';
import { MfaEnrollment } from '../entities/mfa-enrollment.entity.ts';
import { MfaRecoveryCode } from '../entities/mfa-recovery-code.entity.ts';
import { User } from '../entities/user.entity.ts';
import type { SignInResult } from './auth-service.ts';
import {
  hashChallengeToken,
  hashRecoveryCode,
  isTotpCode,
  newChallengeToken,
  newRecoveryCode,
  normaliseCode,
  SecretBox,
} from './mfa-crypto.ts';
import { Throttle, type BackoffPolicy } from './throttle.ts';

export interface MfaSettings {
  /** MFA_ENCRYPTION_KEY: what the stored TOTP secrets are encrypted under. */
  encryptionKey: string;
  /** The name authenticator apps show next to the account. */
  issuer: string;
  /** How long a password sign-in waits for its code. */
  challengeTtlSeconds: number;
  /** Wrong codes per person, across sign-ins, enrollment, disabling and recovery codes alike. */
  failuresPerUser: BackoffPolicy;
  now?: () => number;
  /** Called after a flush that wrote events to the outbox, so that the relay publishes them without waiting for its poll. */
  onEventsRecorded?: (() => void) | undefined;
}

export interface MfaRequired {
  __typename: 'MfaRequired';
  challengeToken: string;
  expiresAt: Date;
}

export interface MfaEnrollmentStarted {
  __typename: 'MfaEnrollment';
  otpauthUri: string;
  qrCodeDataUrl: string;
  manualEntryKey: string;
}

export interface MfaRecoveryCodes {
  __typename: 'MfaRecoveryCodes';
  codes: string[];
}

type Problem<Name extends string> = { __typename: Name; message: string };

const invalidCode: Problem<'InvalidMfaCode'> = { __typename: 'InvalidMfaCode', message: 'The code is wrong, expired or already used' };
const invalidChallenge: Problem<'InvalidMfaChallenge'> = {
  __typename: 'InvalidMfaChallenge',
  message: 'This sign-in has expired or was already completed; sign in again',
};
const alreadyEnabled: Problem<'MfaAlreadyEnabled'> = {
  __typename: 'MfaAlreadyEnabled',
  message: 'Two-factor authentication is already on; disable it first to enroll another authenticator',
};
const notPending: Problem<'MfaNotPending'> = {
  __typename: 'MfaNotPending',
  message: 'No enrollment is waiting for confirmation; begin one first',
};
const notEnabled: Problem<'MfaNotEnabled'> = { __typename: 'MfaNotEnabled', message: 'Two-factor authentication is off' };

export type BeginMfaEnrollmentResult = MfaEnrollmentStarted | Problem<'MfaAlreadyEnabled'>;
export type ConfirmMfaEnrollmentResult = MfaRecoveryCodes | Problem<'InvalidMfaCode'> | Problem<'MfaNotPending'>;
export type DisableMfaResult = { __typename: 'MfaDisabled'; disabledAt: Date } | Problem<'InvalidMfaCode'> | Problem<'MfaNotEnabled'>;
export type RegenerateRecoveryCodesResult = MfaRecoveryCodes | Problem<'InvalidMfaCode'> | Problem<'MfaNotEnabled'>;
export type CompleteMfaSignInResult = SignInResult | Problem<'InvalidMfaCode'> | Problem<'InvalidMfaChallenge'>;

/** Starts the session of a completed two-step sign-in, in the tenant the password step chose. */
export type CompleteSignIn = (user: User, tenantId: string) => Promise<SignInResult>;

const TOTP_PERIOD_SECONDS = 30;
/** One period either side of the server's: phones and servers drift, and a code typed at the end of its period arrives in the next. */
const TOTP_TOLERANCE_SECONDS = TOTP_PERIOD_SECONDS;
const RECOVERY_CODE_COUNT = 10;

/** "8 seconds", "3 minutes": never shorter than the wait. */
function describeWait(seconds: number): string {
  const [amount, unit] = seconds < 60 ? [seconds, 'second'] : [Math.ceil(seconds / 60), 'minute'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

const tooManyWrongCodes = (retryAfterSeconds: number) =>
  clientError(ErrorCode.RateLimited, `Too many wrong codes; try again in ${describeWait(retryAfterSeconds)}`, { retryAfterSeconds });

/** Enrollment happens within a session of the person's own: an API key acts for a tenant, not for a person with a phone. */
function requirePerson(identity: Identity) {
  const caller = requireUser(identity);
  if (!caller.sessionId)
    throw clientError(ErrorCode.Forbidden, 'Only a signed-in person can manage two-factor authentication; API keys cannot');
  return caller;
}

/**
 * Two-factor authentication with TOTP (RFC 6238) authenticator apps and single-use recovery codes. MFA belongs to the
 * person, whatever tenant they work in. A password sign-in of a person with MFA on stops at a challenge (see
 * AuthService.signIn) that {@link completeSignIn} turns into a session given a code. Every code check, wherever it
 * happens, counts against one throttle per person, so that guesses spread over many challenges add up.
 */
export class Mfa {
  private readonly now: () => number;
  private readonly secrets: SecretBox;
  private readonly wrongCodes: Throttle;

  constructor(private readonly settings: MfaSettings) {
    this.now = settings.now ?? Date.now;
    this.secrets = new SecretBox(settings.encryptionKey);
    this.wrongCodes = new Throttle('mfa-user', settings.failuresPerUser, this.now);
  }

  /** A new pending secret for the caller, replacing any earlier pending one; MFA stays off until {@link confirmEnrollment}. */
  async beginEnrollment(em: EntityManager, identity: Identity): Promise<BeginMfaEnrollmentResult> {
    const caller = requirePerson(identity);
    const user = await em.findOne(User, caller.userId);
    if (!user) throw notFound(`User ${caller.userId} no longer exists`);
    const existing = await em.findOne(MfaEnrollment, { user });
    if (existing?.confirmedAt) return alreadyEnabled;
    const secret = generateSecret();
    const encryptedSecret = this.secrets.seal(secret, user.id);
    if (existing) Object.assign(existing, { encryptedSecret, lastUsedTimeStep: null, createdAt: new Date(this.now()) });
    else em.create(MfaEnrollment, { user, encryptedSecret, confirmedAt: null, lastUsedTimeStep: null, createdAt: new Date(this.now()) });
    await em.flush();
    const otpauthUri = generateURI({ issuer: this.settings.issuer, label: user.email, secret, period: TOTP_PERIOD_SECONDS });
    return { __typename: 'MfaEnrollment', otpauthUri, qrCodeDataUrl: await QRCode.toDataURL(otpauthUri), manualEntryKey: secret };
  }

  /** Turns MFA on once a code proves the authenticator holds the pending secret; the recovery codes are shown this once. */
  async confirmEnrollment(em: EntityManager, identity: Identity, code: string): Promise<ConfirmMfaEnrollmentResult> {
    const caller = requirePerson(identity);
    const enrollment = await em.findOne(MfaEnrollment, { user: caller.userId, confirmedAt: null });
    if (!enrollment) return notPending;
    // Recovery codes do not exist yet: only the authenticator can confirm.
    if (!isTotpCode(normaliseCode(code)) || !(await this.check(em, enrollment, code))) return invalidCode;
    enrollment.confirmedAt = new Date(this.now());
    const codes = await this.replaceRecoveryCodes(em, enrollment);
    recordEvent(em, { type: 'user.mfa.enabled', tenantId: caller.tenantId, payload: { userId: caller.userId } }, enrollment.confirmedAt);
    await em.flush();
    this.settings.onEventsRecorded?.();
    return { __typename: 'MfaRecoveryCodes', codes };
  }

  /** Turns MFA off given a code from the authenticator or a recovery code; the secret and the recovery codes are deleted. */
  async disable(em: EntityManager, identity: Identity, code: string): Promise<DisableMfaResult> {
    const caller = requirePerson(identity);
    const enrollment = await em.findOne(MfaEnrollment, { user: caller.userId, confirmedAt: { $ne: null } });
    if (!enrollment) return notEnabled;
    if (!(await this.check(em, enrollment, code))) return invalidCode;
    const disabledAt = new Date(this.now());
    await em.nativeDelete(MfaRecoveryCode, { user: caller.userId });
    await em.nativeDelete(MfaChallenge, { user: caller.userId });
    em.remove(enrollment);
    recordEvent(em, { type: 'user.mfa.disabled', tenantId: caller.tenantId, payload: { userId: caller.userId } }, disabledAt);
    await em.flush();
    this.settings.onEventsRecorded?.();
    return { __typename: 'MfaDisabled', disabledAt };
  }

  /** Replaces every recovery code, used or not, given a code from the authenticator or a recovery code. */
  async regenerateRecoveryCodes(em: EntityManager, identity: Identity, code: string): Promise<RegenerateRecoveryCodesResult> {
    const caller = requirePerson(identity);
    const enrollment = await em.findOne(MfaEnrollment, { user: caller.userId, confirmedAt: { $ne: null } });
    if (!enrollment) return notEnabled;
    if (!(await this.check(em, enrollment, code))) return invalidCode;
    const codes = await this.replaceRecoveryCodes(em, enrollment);
    await em.flush();
    return { __typename: 'MfaRecoveryCodes', codes };
  }

  async isEnabled(em: EntityManager, user: User): Promise<boolean> {
    return (await em.count(MfaEnrollment, { user, confirmedAt: { $ne: null } })) > 0;
  }

  /** The second step of a password sign-in into `tenantId`; its token is in the answer only. */
  async challenge(em: EntityManager, user: User, tenantId: string): Promise<MfaRequired> {
    const challengeToken = newChallengeToken();
    const expiresAt = new Date(this.now() + this.settings.challengeTtlSeconds * 1000);
    em.create(MfaChallenge, {
      tokenHash: hashChallengeToken(challengeToken),
      user,
      tenantId,
      expiresAt,
      usedAt: null,
      createdAt: new Date(this.now()),
    });
    await em.flush();
    return { __typename: 'MfaRequired', challengeToken, expiresAt };
  }

  /**
   * Completes a two-step sign-in: a live, unused challenge and a right code (authenticator or recovery) start the
   * session through `signIn`. A wrong code leaves the challenge usable until it expires, within the person's throttle.
   * `em` is a system unit of work: the caller has no session yet.
   */
  async completeSignIn(em: EntityManager, challengeToken: string, code: string, signIn: CompleteSignIn): Promise<CompleteMfaSignInResult> {
    const challenge = await em.findOne(MfaChallenge, { tokenHash: hashChallengeToken(challengeToken) }, { populate: ['user'] });
    const now = new Date(this.now());
    if (!challenge || challenge.usedAt || challenge.expiresAt <= now) return invalidChallenge;
    const enrollment = await em.findOne(MfaEnrollment, { user: challenge.user, confirmedAt: { $ne: null } });
    // Disabled since the password step (which deleted the challenge, unless this one raced it): start again.
    if (!enrollment) return invalidChallenge;
    if (!(await this.check(em, enrollment, code))) return invalidCode;
    // The conditional update makes two completions of one challenge resolve to one session.
    const claimed = await em.nativeUpdate(MfaChallenge, { id: challenge.id, usedAt: null }, { usedAt: now });
    if (claimed === 0) return invalidChallenge;
    return signIn(challenge.user.getEntity(), challenge.tenantId);
  }

  /** Deletes challenges past their expiry and the wrong-code counters past their window; returns how many. */
  async prune(em: EntityManager): Promise<number> {
    const expired = await em.nativeDelete(MfaChallenge, { expiresAt: { $lte: new Date(this.now()) } });
    return expired + (await this.wrongCodes.prune(em));
  }

  /**
   * Whether `code` is the authenticator's code for now (give or take a period) and newer than any accepted before, or
   * one of the person's unused recovery codes; an accepted code is used up. A check is counted as a failure before it
   * is made, so that parallel guesses cannot all pass through one opening (RATE_LIMITED, even for a right code, once
   * the person is over the allowance); a right code clears the count.
   */
  private async check(em: EntityManager, enrollment: MfaEnrollment, code: string): Promise<boolean> {
    const userId = enrollment.user.id;
    const admission = await this.wrongCodes.admit(em, userId);
    if (!admission.admitted) throw tooManyWrongCodes(admission.retryAfterSeconds);
    const normalised = normaliseCode(code);
    const accepted = isTotpCode(normalised)
      ? await this.useTotpCode(em, enrollment, normalised)
      : await this.useRecoveryCode(em, userId, normalised);
    if (accepted) await this.wrongCodes.clear(em, userId);
    return accepted;
  }

  private async useTotpCode(em: EntityManager, enrollment: MfaEnrollment, token: string): Promise<boolean> {
    const result = await verify({
      secret: this.secrets.open(enrollment.encryptedSecret, enrollment.user.id),
      token,
      period: TOTP_PERIOD_SECONDS,
      epoch: Math.floor(this.now() / 1000),
      epochTolerance: TOTP_TOLERANCE_SECONDS,
      ...(enrollment.lastUsedTimeStep === null ? {} : { afterTimeStep: enrollment.lastUsedTimeStep }),
    });
    if (!result.valid || !('timeStep' in result)) return false;
    // Conditional, so that one code sent twice at once is accepted once.
    const claimed = await em.nativeUpdate(
      MfaEnrollment,
      { id: enrollment.id, $or: [{ lastUsedTimeStep: null }, { lastUsedTimeStep: { $lt: result.timeStep } }] },
      { lastUsedTimeStep: result.timeStep },
    );
    return claimed === 1;
  }

  private async useRecoveryCode(em: EntityManager, userId: string, normalised: string): Promise<boolean> {
    const claimed = await em.nativeUpdate(
      MfaRecoveryCode,
      { user: userId, codeHash: hashRecoveryCode(normalised), usedAt: null },
      { usedAt: new Date(this.now()) },
    );
    return claimed === 1;
  }

  /** New recovery codes, in the unit of work; the old ones are deleted at once. */
  private async replaceRecoveryCodes(em: EntityManager, enrollment: MfaEnrollment): Promise<string[]> {
    await em.nativeDelete(MfaRecoveryCode, { user: enrollment.user.id });
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    for (const code of codes) {
      em.create(MfaRecoveryCode, {
        user: enrollment.user,
        codeHash: hashRecoveryCode(normaliseCode(code)),
        usedAt: null,
        createdAt: new Date(this.now()),
      });
    }
    return codes;
  }
}
