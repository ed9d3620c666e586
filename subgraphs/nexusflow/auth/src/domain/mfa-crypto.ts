import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomInt } from 'node:crypto';

/** The format of stored secrets, first in each: a future key or cipher gets a new version, and old secrets stay readable. */
const SECRET_FORMAT = 'v1';
const IV_BYTES = 12;

/**
 * Encrypts and decrypts TOTP secrets at rest with AES-256-GCM under a key derived (HKDF-SHA-256) from
 * MFA_ENCRYPTION_KEY, so that a copy of the database alone yields no authenticator. Each secret is bound to its user's
 * id as associated data: a ciphertext moved to another user's row does not decrypt.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(encryptionKey: string) {
    this.key = Buffer.from(hkdfSync('sha256', encryptionKey, 'nexusflow-auth', 'mfa-totp-secret-v1', 32));
  }

  seal(secret: string, userId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(userId));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [SECRET_FORMAT, iv, cipher.getAuthTag(), ciphertext]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
  }

  open(sealed: string, userId: string): string {
    const [format, iv, tag, ciphertext] = sealed.split('.');
    if (format !== SECRET_FORMAT || !iv || !tag || ciphertext === undefined) throw new Error(`Unknown MFA secret format ${format}`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
      .setAAD(Buffer.from(userId))
      .setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
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
