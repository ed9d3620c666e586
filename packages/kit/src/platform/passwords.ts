import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Below OWASP's recommendation for scrypt (N=2^17, r=8, p=1, 128 MiB a hash): N=2^15 is kept for now so that a hash
 * needs 32 MiB, which lets several sign-ins run at once on a small instance. Each hash records its cost, so it can be
 * raised later without breaking stored hashes, which are then re-hashed at the next sign-in.
 */
export const PASSWORD_HASH_COST: Readonly<ScryptOptions> = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LENGTH = 32;

let hashCost: Readonly<ScryptOptions> = PASSWORD_HASH_COST;

/**
 * Lets a test suite hash new passwords at a lower cost (undefined: {@link PASSWORD_HASH_COST} again): at the real cost
 * each hash is 50–100 ms of CPU, and a suite that registers and signs in thousands of users spends minutes on them.
 * Verification always uses the cost a hash records, so the code path is the same. Set once, by the test runner's setup
 * file; a service never sets it.
 */
export function hashNewPasswordsAtCost(cost: Readonly<ScryptOptions> | undefined): void {
  hashCost = cost ?? PASSWORD_HASH_COST;
}

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

/**
 * A password hashed with scrypt, a memory-hard function, as `scrypt$N$r$p$salt$key`: the cost travels with the hash,
 * so it can be raised without breaking old hashes.
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, hashCost);
  return ['scrypt', hashCost.N, hashCost.r, hashCost.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [algorithm, n, r, p, salt, key] = stored.split('$');
  if (algorithm !== 'scrypt' || !n || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await derive(password, Buffer.from(salt, 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: PASSWORD_HASH_COST.maxmem,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

let unknownUserPasswordHash: Promise<string> | undefined;

/**
 * Checks `password` against a hash nobody's password matches, taking as long as a real check: a failed sign-in for an
 * email nobody registered then takes as long as one for a wrong password, so response times do not reveal which
 * emails are registered. Always false.
 */
export async function verifyPasswordOfUnknownUser(password: string): Promise<false> {
  unknownUserPasswordHash ??= hashPassword(randomBytes(16).toString('hex'));
  await verifyPassword(password, await unknownUserPasswordHash);
  return false;
}
