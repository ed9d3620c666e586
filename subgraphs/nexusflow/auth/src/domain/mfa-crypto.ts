import { createHash, randomBytes, randomInt } from 'node:crypto';
import { SealedBox } from '@nexusflow/kit';

/**
 * TOTP secrets at rest under MFA_ENCRYPTION_KEY, each bound to its user's id, so that a copy of the database alone
 * yields no authenticator.
 */
export class SecretBox extends SealedBox {
  constructor(encryptionKey: string) {
    super(encryptionKey, { salt: 'nexusflow-auth', info: 'mfa-totp-secret-v1' });
  }
}

/** No 0/o, 1/i/l: recovery codes are read off paper and typed by hand. */
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const RECOVERY_CODE_LENGTH = 10;

/** `xxxxx-xxxxx`: about 49 random bits, far beyond what the per-user throttle lets anyone try. */
export function newRecoveryCode(): string {
  const characters = Array.from({ length: RECOVERY_CODE_LENGTH }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]);
  return `${characters.slice(0, 5).join('')}-${characters.slice(5).join('')}`;
}

/** What a person may type for a code: spaces and dashes anywhere, any case. */
export const normaliseCode = (code: string) => code.replace(/[\s-]/g, '').toLowerCase();

export const isTotpCode = (normalised: string) => /^\d{6}$/.test(normalised);

export const hashRecoveryCode = (normalised: string) => createHash('sha256').update(normalised).digest('hex');

export const newChallengeToken = () => randomBytes(32).toString('base64url');

export const hashChallengeToken = (token: string) => createHash('sha256').update(token).digest('hex');
