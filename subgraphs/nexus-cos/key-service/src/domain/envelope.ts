import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The ciphertext format key-service hands out, `ks1.<tenant key id>.<version>.<secret id>.<wrapped data key>.<purpose
 * tag>.<body>` (binary parts base64url):
 * - the data key is 32 fresh random bytes per secret, wrapped (AES-256-GCM) by the tenant key version, with the header
 *   (`ks1.<tenant key id>.<version>.<secret id>`) as associated data, so that a wrapped key moved to another header fails;
 * - the purpose tag is HMAC-SHA-256(data key, purpose), cut to 16 bytes, which tells a wrong purpose from tampering;
 * - the body is the secret under the data key (AES-256-GCM), with the tenant key id, the secret id and the purpose as
 *   associated data. It does not name the version: a re-wrap replaces the header and wrapped key and keeps the body.
 */
export const CIPHERTEXT_FORMAT = 'ks1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PURPOSE_TAG_BYTES = 16;

export interface CiphertextParts {
  tenantKeyId: string;
  version: number;
  secretId: string;
  wrappedDataKey: Buffer;
  purposeTag: Buffer;
  body: Buffer;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The parts of a ciphertext, or undefined for anything that is not one in the current format. */
export function parseCiphertext(ciphertext: string): CiphertextParts | undefined {
  const parts = ciphertext.split('.');
  if (parts.length !== 7) return undefined;
  const [format, tenantKeyId, version, secretId, wrappedDataKey, purposeTag, body] = parts as [string, ...string[]] & string[];
  if (format !== CIPHERTEXT_FORMAT || !UUID.test(tenantKeyId!) || !UUID.test(secretId!) || !/^[1-9][0-9]{0,8}$/.test(version!)) {
    return undefined;
  }
  if (![wrappedDataKey, purposeTag, body].every((part) => BASE64URL.test(part!))) return undefined;
  const decoded = {
    tenantKeyId: tenantKeyId!,
    version: Number(version),
    secretId: secretId!,
    wrappedDataKey: Buffer.from(wrappedDataKey!, 'base64url'),
    purposeTag: Buffer.from(purposeTag!, 'base64url'),
    body: Buffer.from(body!, 'base64url'),
  };
  if (decoded.wrappedDataKey.length !== IV_BYTES + TAG_BYTES + KEY_BYTES) return undefined;
  if (decoded.purposeTag.length !== PURPOSE_TAG_BYTES || decoded.body.length < IV_BYTES + TAG_BYTES) return undefined;
  return decoded;
}

export function formatCiphertext(parts: CiphertextParts): string {
  return [header(parts), ...[parts.wrappedDataKey, parts.purposeTag, parts.body].map((part) => part.toString('base64url'))].join('.');
}

const header = ({ tenantKeyId, version, secretId }: Pick<CiphertextParts, 'tenantKeyId' | 'version' | 'secretId'>) =>
  `${CIPHERTEXT_FORMAT}.${tenantKeyId}.${version}.${secretId}`;

function seal(key: Buffer, plaintext: Buffer, associatedData: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(associatedData, 'utf8'));
  const encrypted = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), encrypted]);
}

/** The plaintext, or undefined when the key, the associated data or the sealed bytes are not what sealed it. */
function open(key: Buffer, sealed: Buffer, associatedData: string): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES))
      .setAAD(Buffer.from(associatedData, 'utf8'))
      .setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

const purposeTagOf = (dataKey: Buffer, purpose: string) =>
  createHmac('sha256', dataKey).update(`purpose\0${purpose}`, 'utf8').digest().subarray(0, PURPOSE_TAG_BYTES);

const bodyAssociatedData = (tenantKeyId: string, secretId: string, purpose: string) =>
  `${CIPHERTEXT_FORMAT}\0${tenantKeyId}\0${secretId}\0${purpose}`;

export function newKeyMaterial(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Encrypts a secret under a fresh data key wrapped by `keyEncryptionKey` (the tenant key's version `version`). */
export function encryptEnvelope(
  keyEncryptionKey: Buffer,
  target: { tenantKeyId: string; version: number; secretId: string },
  plaintext: string,
  purpose: string,
): string {
  const dataKey = newKeyMaterial();
  try {
    return formatCiphertext({
      ...target,
      wrappedDataKey: seal(keyEncryptionKey, dataKey, header(target)),
      purposeTag: purposeTagOf(dataKey, purpose),
      body: seal(dataKey, Buffer.from(plaintext, 'utf8'), bodyAssociatedData(target.tenantKeyId, target.secretId, purpose)),
    });
  } finally {
    dataKey.fill(0);
  }
}

export type EnvelopeFailure = 'TAMPERED' | 'WRONG_PURPOSE';

/** The data key of a ciphertext, once its wrapping and its purpose check out. */
function unwrapDataKey(keyEncryptionKey: Buffer, parts: CiphertextParts, purpose: string): Buffer | EnvelopeFailure {
  const dataKey = open(keyEncryptionKey, parts.wrappedDataKey, header(parts));
  if (!dataKey) return 'TAMPERED';
  if (!timingSafeEqual(purposeTagOf(dataKey, purpose), parts.purposeTag)) {
    dataKey.fill(0);
    return 'WRONG_PURPOSE';
  }
  return dataKey;
}

export function decryptEnvelope(
  keyEncryptionKey: Buffer,
  parts: CiphertextParts,
  purpose: string,
): { plaintext: string } | EnvelopeFailure {
  const dataKey = unwrapDataKey(keyEncryptionKey, parts, purpose);
  if (typeof dataKey === 'string') return dataKey;
  try {
    const plaintext = open(dataKey, parts.body, bodyAssociatedData(parts.tenantKeyId, parts.secretId, purpose));
    return plaintext ? { plaintext: plaintext.toString('utf8') } : 'TAMPERED';
  } finally {
    dataKey.fill(0);
  }
}

/**
 * The same secret with its data key wrapped by another version: its body is checked (a tampered one is refused rather
 * than carried forward) but kept as it is, and its plaintext never leaves this function.
 */
export function rewrapEnvelope(
  from: Buffer,
  parts: CiphertextParts,
  purpose: string,
  to: { keyEncryptionKey: Buffer; version: number },
): { ciphertext: string } | EnvelopeFailure {
  const dataKey = unwrapDataKey(from, parts, purpose);
  if (typeof dataKey === 'string') return dataKey;
  try {
    const plaintext = open(dataKey, parts.body, bodyAssociatedData(parts.tenantKeyId, parts.secretId, purpose));
    if (!plaintext) return 'TAMPERED';
    plaintext.fill(0);
    const target = { tenantKeyId: parts.tenantKeyId, version: to.version, secretId: parts.secretId };
    return { ciphertext: formatCiphertext({ ...parts, ...target, wrappedDataKey: seal(to.keyEncryptionKey, dataKey, header(target)) }) };
  } finally {
    dataKey.fill(0);
  }
}
