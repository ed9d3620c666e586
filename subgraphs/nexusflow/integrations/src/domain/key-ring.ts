import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/** The format of sealed values, first in each: a future cipher gets a new version, and old values stay readable. */
const SEALED_FORMAT = 'v1';
const IV_BYTES = 12;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
export const MIN_SECRET_LENGTH = 32;

export interface EncryptionKey {
  id: string;
  secret: string;
}

/**
 * INTEGRATIONS_ENCRYPTION_KEYS: comma-separated keys, newest first, each `<id>:<secret>` or a bare secret (its id is
 * then the first 12 hex digits of the secret's SHA-256). Secrets have at least 32 characters.
 */
export function parseKeyRing(value: string): { keys: EncryptionKey[]; problems: string[] } {
  const keys: EncryptionKey[] = [];
  const problems: string[] = [];
  for (const [index, entry] of value
    .split(',')
    .map((part) => part.trim())
    .entries()) {
    const separator = entry.indexOf(':');
    const named = separator > 0 && KEY_ID.test(entry.slice(0, separator));
    const id = named ? entry.slice(0, separator) : createHash('sha256').update(entry).digest('hex').slice(0, 12);
    const secret = named ? entry.slice(separator + 1) : entry;
    if (secret.length < MIN_SECRET_LENGTH) problems.push(`key ${index + 1} must have a secret of at least ${MIN_SECRET_LENGTH} characters`);
    else if (keys.some((key) => key.id === id)) problems.push(`key ${index + 1} repeats the id ${id}`);
    else keys.push({ id, secret });
  }
  return { keys, problems };
}

/**
 * Authenticated encryption at rest (AES-256-GCM) under a ring of keys: new values are sealed with the newest key, and
 * values sealed with any key of the ring open, so that a key is rotated by putting a new one first and dropping the
 * old one once {@link isCurrent} holds for every stored value. Each value is bound to what it belongs to (`context`,
 * e.g. an integration's id) as associated data: a ciphertext copied to another row does not open.
 */
export class KeyRing {
  private readonly keys: Map<string, Buffer>;
  readonly currentKeyId: string;

  constructor(keys: readonly EncryptionKey[]) {
    if (keys.length === 0) throw new Error('A key ring needs at least one key');
    // HKDF makes a 256-bit key of a secret of any form (hex, base64, a passphrase) for this one purpose.
    this.keys = new Map(
      keys.map(({ id, secret }) => [id, Buffer.from(hkdfSync('sha256', secret, 'nexusflow-integrations', `credentials-${id}`, 32))]),
    );
    this.currentKeyId = keys[0]!.id;
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentKeyId)!, iv).setAAD(Buffer.from(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [SEALED_FORMAT, this.currentKeyId, ...[iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'))].join('.');
  }

  /** Throws when the value was sealed with a key no longer in the ring, altered, or sealed for another context. */
  open(sealed: string, context: string): string {
    const [format, keyId, iv, tag, ciphertext] = sealed.split('.');
    if (format !== SEALED_FORMAT || !keyId || !iv || !tag || ciphertext === undefined) throw new Error(`Unknown sealed format ${format}`);
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`The key ${keyId} is not in INTEGRATIONS_ENCRYPTION_KEYS`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      .setAAD(Buffer.from(context))
      .setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** The id of the key a sealed value was sealed with. */
  static keyIdOf(sealed: string): string | undefined {
    return sealed.split('.')[1];
  }

  isCurrent(sealed: string): boolean {
    return KeyRing.keyIdOf(sealed) === this.currentKeyId;
  }
}
