import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** First in each sealed value: a future key or cipher gets a new version, and old values stay readable. */
const SEALED_FORMAT = 'v1';
const IV_BYTES = 12;

/** What a box's key is derived for: two boxes on one secret but different purposes open nothing of each other's. */
export interface SealPurpose {
  salt: string;
  info: string;
}

/**
 * Secrets at rest (an MFA seed, a private signing key): AES-256-GCM under a key derived with HKDF-SHA-256 from a
 * configured secret, so that a copy of the database alone yields nothing. Each value is bound to its owner (a user id,
 * a key id) as associated data: a value moved to another row does not open. Sealed values read `v1.<iv>.<tag>.<data>`.
 */
export class SealedBox {
  private readonly key: Buffer;

  constructor(secret: string, purpose: SealPurpose) {
    this.key = Buffer.from(hkdfSync('sha256', secret, purpose.salt, purpose.info, 32));
  }

  seal(plaintext: string, owner: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(owner));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [SEALED_FORMAT, ...[iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'))].join('.');
  }

  open(sealed: string, owner: string): string {
    const [format, iv, tag, ciphertext] = sealed.split('.');
    if (format !== SEALED_FORMAT || !iv || !tag || ciphertext === undefined) throw new Error(`Unknown sealed value format ${format}`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
      .setAAD(Buffer.from(owner))
      .setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }
}
