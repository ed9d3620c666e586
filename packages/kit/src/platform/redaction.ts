/**
 * Words of key names whose values must never be stored or logged as given: credentials, one-time codes, keys. A key
 * is split into its words in any of the spellings clients use (`newPassword`, `api_key`, `client-secret`, `mfaCode`),
 * and is secret when one of them is here, or when it contains `password`, `secret` or `token` anywhere (`passwordHash`).
 */
const SECRET_WORDS = new Set([
  'password',
  'passphrase',
  'passwd',
  'secret',
  'secrets',
  'token',
  'tokens',
  'key',
  'keys',
  'apikey',
  'code',
  'codes',
  'otp',
  'pin',
  'credential',
  'credentials',
  'authorization',
  'cookie',
  'signature',
  'private',
  'privatekey',
]);
const SECRET_INFIXES = ['password', 'secret', 'token'];

/** Whether the value under `key` looks like a secret, judged by the key's name alone. */
export function isSecretKey(key: string): boolean {
  const lower = key.toLowerCase();
  if (SECRET_INFIXES.some((infix) => lower.includes(infix))) return true;
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .map((word) => word.toLowerCase());
  return words.some((word) => SECRET_WORDS.has(word));
}

/** What stands for a redacted value. */
export const REDACTED = '[REDACTED]';

const MAX_DEPTH = 20;

/** NUL, and UTF-16 surrogates without their other half: valid in GraphQL and JSON strings, refused by PostgreSQL's text and jsonb. */
// eslint-disable-next-line no-control-regex -- NUL is one of the characters this is for.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * `text` with what PostgreSQL refuses to store replaced by U+FFFD. A client's string is stored as it came otherwise:
 * one such character must not make a record that has to be kept (an audit entry, an event) impossible to write.
 */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE, '\uFFFD');
}

/**
 * A copy of `value` with every string, and every key, made {@link storableText}: a JSON value as PostgreSQL's jsonb
 * takes it. What came from outside (a server's answer, a client's input) is otherwise kept as it came.
 */
export function storableValue(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableValue);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, item]) => [storableText(key), storableValue(item)]),
  );
}

/**
 * A copy of `value` with the value of every key that looks like a secret ({@link isSecretKey}) replaced by
 * {@link REDACTED}, at any depth of objects and arrays, and every string made {@link storableText}. Keys are judged by
 * name only: a secret under an innocent key (`note: "my password is …"`) goes through, which is why what is redacted
 * errs on the side of too much.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return REDACTED;
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, item]) => [
      storableText(key),
      isSecretKey(key) && item !== null && item !== undefined ? REDACTED : redactSecrets(item, depth + 1),
    ]),
  );
}
