import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashNewPasswordsAtCost, hashPassword, verifyPassword } from './passwords.ts';

describe('password hashing', () => {
  // At the cost services hash with, whatever the test runner's setup file chose for the other suites.
  beforeAll(() => hashNewPasswordsAtCost(undefined));
  afterAll(() => hashNewPasswordsAtCost({ N: 2 ** 10, r: 8, p: 1 }));

  it('verifies the password it hashed and refuses any other', async () => {
    const hash = await hashPassword('correct horse battery');
    expect(await verifyPassword('correct horse battery', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery ', hash)).toBe(false);
  });

  it('salts every hash, so equal passwords do not produce equal hashes', async () => {
    expect(await hashPassword('same password here')).not.toBe(await hashPassword('same password here'));
  });

  it('records the algorithm and its cost with the hash, so the cost can be raised later', async () => {
    expect(await hashPassword('correct horse battery')).toMatch(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
  });

  it('treats differently composed but equal Unicode passwords as the same password', async () => {
    const composed = 'caf\u00e9 au lait!';
    const decomposed = 'cafe\u0301 au lait!';
    expect(await verifyPassword(decomposed, await hashPassword(composed))).toBe(true);
  });

  it('verifies a hash made at another cost by the cost the hash records', async () => {
    hashNewPasswordsAtCost({ N: 2 ** 10, r: 8, p: 1 });
    const cheaper = await hashPassword('correct horse battery');
    hashNewPasswordsAtCost(undefined);

    expect(cheaper).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(await verifyPassword('correct horse battery', cheaper)).toBe(true);
    expect(await verifyPassword('wrong horse battery', cheaper)).toBe(false);
  });

  it('refuses a stored value that is not one of its hashes instead of throwing', async () => {
    expect(await verifyPassword('anything', 'md5$abc')).toBe(false);
    expect(await verifyPassword('anything', '')).toBe(false);
  });
});
