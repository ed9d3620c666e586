import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** First in each sealed key: a future key-encryption scheme (key-service's envelopes) gets a new version. */
const SEALED_FORMAT = 'v1';
const IV_BYTES = 12;

/**
 * Seals private signing keys at rest with AES-256-GCM under a key derived (HKDF-SHA-256) from TOKEN_KEY_ENCRYPTION_KEY,
 * so that a copy of the database alone signs nothing. Each private key is bound to its key id as associated data: a
 * sealed key moved to another row does not open. key-service's envelope encryption replaces this once it exists.
 */
export class KeyBox {
  private readonly key: Buffer;

  constructor(encryptionKey: string) {
    this.key = Buffer.from(hkdfSync('sha256', encryptionKey, 'nexus-cos-token-mgr', 'signing-key-v1', 32));
  }

  seal(privateKey: string, keyId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(keyId));
    const ciphertext = Buffer.concat([cipher.update(privateKey, 'utf8'), cipher.final()]);
    return [SEALED_FORMAT, ...[iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'))].join('.');
  }

  open(sealed: string, keyId: string): string {
    const [format, iv, tag, ciphertext] = sealed.split('.');
    if (format !== SEALED_FORMAT || !iv || !tag || ciphertext === undefined) throw new Error(`Unknown sealed key format ${format}`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
      .setAAD(Buffer.from(keyId))
      .setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }
}
