import { describe, expect, it } from 'vitest';
import { isSecretKey, REDACTED, redactSecrets, storableText, storableValue } from './redaction.ts';

describe('redacting secrets by key name', () => {
  it('knows secret keys in every spelling clients use, and leaves innocent ones alone', () => {
    const secret = ['password', 'newPassword', 'passwordHash', 'apiKey', 'api_key', 'x-api-key', 'clientSecret', 'mfaCode', 'code'];
    const more = ['recoveryCodes', 'accessToken', 'refresh_token', 'authorization', 'Cookie', 'otp', 'privateKey', 'signature'];
    const innocent = ['name', 'email', 'id', 'workflowId', 'keyboard', 'monkey', 'postcode', 'description', 'input', 'encoding'];
    expect([...secret, ...more].filter((key) => !isSecretKey(key))).toEqual([]);
    expect(innocent.filter((key) => isSecretKey(key))).toEqual([]);
  });

  it('replaces the values of secret keys at any depth of objects and arrays, keeping everything else as it was', () => {
    const input = {
      email: 'ada@example.com',
      password: 'hunter2',
      input: { name: 'Deploy', steps: [{ config: { headers: { authorization: 'Bearer abc' }, url: 'https://x' } }] },
      token: null,
    };
    expect(redactSecrets(input)).toEqual({
      email: 'ada@example.com',
      password: REDACTED,
      input: { name: 'Deploy', steps: [{ config: { headers: { authorization: REDACTED }, url: 'https://x' } }] },
      token: null,
    });
    expect(input.password).toBe('hunter2');
  });

  it('replaces NUL and lone surrogates, which PostgreSQL refuses, in values and keys, keeping whole surrogate pairs', () => {
    expect(storableText('a\u0000b')).toBe('a\uFFFDb');
    expect(storableText('\uD800 and \uDC00')).toBe('\uFFFD and \uFFFD');
    expect(storableText('🎉 ok')).toBe('🎉 ok');
    expect(redactSecrets({ 'note\u0000': ['\uD83D', { name: 'x\u0000' }] })).toEqual({ 'note\uFFFD': ['\uFFFD', { name: 'x\uFFFD' }] });
    expect(storableValue({ 'token\u0000': ['\uD83D', { count: 2, ok: true, none: null }] })).toEqual({
      'token\uFFFD': ['\uFFFD', { count: 2, ok: true, none: null }],
    });
  });
});
