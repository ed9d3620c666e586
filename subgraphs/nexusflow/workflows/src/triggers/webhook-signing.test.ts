import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  newWebhookSecret,
  parseSignatureHeader,
  signatureHeader,
  signatureMatches,
  signDelivery,
  WebhookSecretBox,
} from './webhook-signing.ts';

describe('webhook signing', () => {
  const secret = newWebhookSecret();

  it('signs "<timestamp>.<delivery id>.<body>" with HMAC-SHA256, as a sender computes it with any HMAC library', () => {
    const expected = createHmac('sha256', secret).update('1767225600.evt_1.{"a":1}').digest('hex');
    expect(signDelivery(secret, 1767225600, 'evt_1', Buffer.from('{"a":1}'))).toBe(expected);
    expect(signatureHeader(secret, 1767225600, 'evt_1', '{"a":1}')).toBe(`t=1767225600,v1=${expected}`);
  });

  it('reads the timestamp and every v1 signature of the header, and refuses malformed ones', () => {
    const [one, two] = ['a'.repeat(64), 'b'.repeat(64)];
    expect(parseSignatureHeader(`t=1767225600, v1=${one},v1=${two},v0=old`)).toEqual({ timestamp: 1767225600, signatures: [one, two] });
    expect(parseSignatureHeader(`v1=${one}`)).toBeUndefined();
    expect(parseSignatureHeader('t=1767225600')).toBeUndefined();
    expect(parseSignatureHeader(`t=soon,v1=${one}`)).toBeUndefined();
    expect(parseSignatureHeader(undefined)).toBeUndefined();
  });

  it('accepts a delivery when any of its signatures matches, and no other', () => {
    const signature = signDelivery(secret, 1, 'd', '{}');
    expect(signatureMatches(signature, ['0'.repeat(64), signature])).toBe(true);
    expect(signatureMatches(signature, [signDelivery(newWebhookSecret(), 1, 'd', '{}')])).toBe(false);
    expect(signatureMatches(signature, [signDelivery(secret, 1, 'other', '{}')])).toBe(false);
  });

  it('keeps secrets encrypted, opening them only under the same key and for the same workflow', () => {
    const box = new WebhookSecretBox('k'.repeat(32));
    const sealed = box.seal(secret, 'workflow-1');
    expect(sealed).not.toContain(secret.slice(6));
    expect(box.open(sealed, 'workflow-1')).toBe(secret);
    expect(() => box.open(sealed, 'workflow-2')).toThrow();
    expect(() => new WebhookSecretBox('x'.repeat(32)).open(sealed, 'workflow-1')).toThrow();
  });
});
