import { describe, expect, it } from 'vitest';
import { KeyRing, parseKeyRing } from './key-ring.ts';

const OLD = { id: 'old', secret: 'o'.repeat(32) };
const NEW = { id: 'new', secret: 'n'.repeat(32) };

describe('the key ring', () => {
  it('seals with its first key and opens what any of its keys sealed', () => {
    const before = new KeyRing([OLD]);
    const sealedBefore = before.seal('tokens', 'integration-1');
    const rotated = new KeyRing([NEW, OLD]);
    expect(rotated.open(sealedBefore, 'integration-1')).toBe('tokens');
    expect(rotated.isCurrent(sealedBefore)).toBe(false);
    const sealedAfter = rotated.seal('tokens', 'integration-1');
    expect(KeyRing.keyIdOf(sealedAfter)).toBe('new');
    expect(rotated.isCurrent(sealedAfter)).toBe(true);
    expect(() => before.open(sealedAfter, 'integration-1')).toThrow('The key new is not in INTEGRATIONS_ENCRYPTION_KEYS');
  });

  it('never seals the same value the same way, and shows nothing of it', () => {
    const ring = new KeyRing([NEW]);
    const [first, second] = [ring.seal('xoxb-secret-token', 'a'), ring.seal('xoxb-secret-token', 'a')];
    expect(first).not.toBe(second);
    expect(first).not.toContain('xoxb');
    expect(Buffer.from(first.split('.').at(-1)!, 'base64url').toString('latin1')).not.toContain('xoxb');
  });

  it('refuses a value altered, or moved to another context', () => {
    const ring = new KeyRing([NEW]);
    const sealed = ring.seal('tokens', 'integration-1');
    expect(() => ring.open(sealed, 'integration-2')).toThrow();
    const parts = sealed.split('.');
    const ciphertext = Buffer.from(parts[4]!, 'base64url');
    ciphertext[0]! ^= 1;
    parts[4] = ciphertext.toString('base64url');
    expect(() => ring.open(parts.join('.'), 'integration-1')).toThrow();
  });

  it('reads named and bare keys, newest first, and names each problem', () => {
    const bare = 'f'.repeat(64);
    const { keys, problems } = parseKeyRing(`2026-06:${'n'.repeat(32)}, ${bare}`);
    expect(problems).toEqual([]);
    expect(keys).toEqual([
      { id: '2026-06', secret: 'n'.repeat(32) },
      { id: expect.stringMatching(/^[0-9a-f]{12}$/), secret: bare },
    ]);
    expect(parseKeyRing(`a:short,a:${'x'.repeat(32)},a:${'y'.repeat(32)}`).problems).toEqual([
      'key 1 must have a secret of at least 32 characters',
      'key 3 repeats the id a',
    ]);
  });
});
