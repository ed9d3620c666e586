import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** Headers of a webhook delivery: its id (idempotency), and its signature. */
export const DELIVERY_HEADER = 'x-nexusflow-delivery';
export const SIGNATURE_HEADER = 'x-nexusflow-signature';

/** 1 to 128 letters, digits, ".", "_", ":" or "-": the sender's own id of the delivery, e.g. its event or message id. */
export const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** `whsec_` and 32 random bytes: the prefix tells people (and secret scanners) what the string is. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/**
 * The signature of a delivery: hex HMAC-SHA256, keyed with the secret, of `<timestamp>.<delivery id>.<raw body>`. The
 * timestamp (Unix seconds) bounds when a captured delivery could be replayed, and the delivery id is signed too, so that
 * within that window a replay can only repeat the delivery it copies, which starts nothing new.
 */
export function signDelivery(secret: string, timestamp: number, deliveryId: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${deliveryId}.`).update(body).digest('hex');
}

/** The `X-NexusFlow-Signature` header a sender sends: `t=<timestamp>,v1=<signature>`. */
export function signatureHeader(secret: string, timestamp: number, deliveryId: string, body: Buffer | string): string {
  return `t=${timestamp},v1=${signDelivery(secret, timestamp, deliveryId, body)}`;
}

/** The header's timestamp and its `v1` signatures (a sender may send several, e.g. while it rolls over to a new secret). */
export function parseSignatureHeader(header: string | undefined): { timestamp: number; signatures: string[] } | undefined {
  if (!header || header.length > 1024) return undefined;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === 't' && value && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (name === 'v1' && value && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  return timestamp === undefined || signatures.length === 0 ? undefined : { timestamp, signatures };
}

export function signatureMatches(expected: string, given: readonly string[]): boolean {
  const wanted = Buffer.from(expected, 'hex');
  return given.some((signature) => timingSafeEqual(wanted, Buffer.from(signature, 'hex')));
}

/** The format of sealed secrets, first in each: a future key or cipher gets a new version, and old secrets stay readable. */
const SEALED_FORMAT = 'v1';

/**
 * Webhook secrets at rest: AES-256-GCM under a key derived (HKDF-SHA-256) from WEBHOOK_SECRET_ENCRYPTION_KEY, each bound
 * to its workflow's id as associated data, so that a copy of the database alone signs nothing and a sealed secret moved
 * to another workflow's row does not open. Verifying an HMAC needs the secret itself, which is why it is encrypted
 * rather than hashed.
 */
export class WebhookSecretBox {
  private readonly key: Buffer;

  constructor(encryptionKey: string) {
    this.key = Buffer.from(hkdfSync('sha256', encryptionKey, 'nexusflow-workflows', 'webhook-secret-v1', 32));
  }

  seal(secret: string, workflowId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(workflowId));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [SEALED_FORMAT, ...[iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'))].join('.');
  }

  open(sealed: string, workflowId: string): string {
    const [format, iv, tag, ciphertext] = sealed.split('.');
    if (format !== SEALED_FORMAT || !iv || !tag || ciphertext === undefined) throw new Error(`Unknown webhook secret format ${format}`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
      .setAAD(Buffer.from(workflowId))
      .setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }
}
