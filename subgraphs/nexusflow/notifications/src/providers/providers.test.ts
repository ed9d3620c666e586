import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeFcm, FakeSendGrid, FakeTwilio } from '../../../../../test/support/fake-providers.ts';
import { failureFromResponse } from './http.ts';
import {
  createProviders,
  FcmProvider,
  ProviderError,
  SendGridProvider,
  TwilioProvider,
  type OutgoingMessage,
  type Provider,
} from './index.ts';

const sendgridKey = 'SG.real-looking-api-key-that-must-not-leak';
const twilio = { accountSid: 'AC0123456789abcdef0123456789abcdef', authToken: 'twilio-auth-token-that-must-not-leak' };
const fcm = { projectId: 'nexusflow-test', accessToken: 'ya29.access-token-that-must-not-leak' };
const wrongSecret = 'a-wrong-secret-that-must-not-leak-either';

let fakeSendGrid: FakeSendGrid;
let fakeTwilio: FakeTwilio;
let fakeFcm: FakeFcm;
/** An address where nothing listens any more. */
let deadUrl: string;

beforeAll(async () => {
  [fakeSendGrid, fakeTwilio, fakeFcm] = await Promise.all([
    new FakeSendGrid({ apiKey: sendgridKey }).start(),
    new FakeTwilio(twilio).start(),
    new FakeFcm(fcm).start(),
  ]);
  const closed = await new FakeSendGrid({ apiKey: sendgridKey }).start();
  await closed.close();
  deadUrl = closed.url;
});

afterAll(async () => {
  await Promise.all([fakeSendGrid.close(), fakeTwilio.close(), fakeFcm.close()]);
});

interface ProviderOverrides {
  baseUrl?: string;
  secret?: string;
  timeoutMs?: number;
}

interface VendorCase {
  name: string;
  /** The credential the provider holds, which no error message may repeat. */
  secret: string;
  fake: () => FakeSendGrid | FakeTwilio | FakeFcm;
  provider: (overrides?: ProviderOverrides) => Provider;
}

const vendors: VendorCase[] = [
  {
    name: 'SendGrid',
    secret: sendgridKey,
    fake: () => fakeSendGrid,
    provider: (o = {}) =>
      new SendGridProvider({
        baseUrl: o.baseUrl ?? fakeSendGrid.url,
        apiKey: o.secret ?? sendgridKey,
        from: 'noreply@nexusflow.test',
        timeoutMs: o.timeoutMs,
      }),
  },
  {
    name: 'Twilio',
    secret: twilio.authToken,
    fake: () => fakeTwilio,
    provider: (o = {}) =>
      new TwilioProvider({
        ...twilio,
        baseUrl: o.baseUrl ?? fakeTwilio.url,
        authToken: o.secret ?? twilio.authToken,
        from: '+15005550006',
        timeoutMs: o.timeoutMs,
      }),
  },
  {
    name: 'FCM',
    secret: fcm.accessToken,
    fake: () => fakeFcm,
    provider: (o = {}) =>
      new FcmProvider({ ...fcm, baseUrl: o.baseUrl ?? fakeFcm.url, accessToken: o.secret ?? fcm.accessToken, timeoutMs: o.timeoutMs }),
  },
];

const message: OutgoingMessage = { to: 'recipient', subject: 'Workflow finished', body: 'Your export is ready.' };

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => expect.fail('expected the delivery to fail'),
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('SendGridProvider', () => {
  it('sends a plain-text email that SendGrid accepts and answers with its x-message-id', async () => {
    const provider = vendors[0]!.provider();

    const receipt = await provider.send({ to: 'ada@example.com', subject: 'Welcome', body: 'Hello Ada' }, { idempotencyKey: 'delivery-1' });

    expect(fakeSendGrid.accepted.at(-1)).toEqual({
      messageId: receipt.providerMessageId,
      to: 'ada@example.com',
      from: 'noreply@nexusflow.test',
      subject: 'Welcome',
      body: 'Hello Ada',
      idempotencyKey: 'delivery-1',
    });
  });

  it('is the EMAIL provider named sendgrid', () => {
    expect(vendors[0]!.provider()).toMatchObject({ channel: 'EMAIL', name: 'sendgrid' });
  });
});

describe('TwilioProvider', () => {
  it('sends an SMS with the idempotency token that Twilio accepts and answers with its message sid', async () => {
    const provider = vendors[1]!.provider();

    const receipt = await provider.send({ to: '+15551234567', body: 'Your code is 1234' }, { idempotencyKey: 'delivery-2' });

    expect(receipt.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    expect(fakeTwilio.accepted.at(-1)).toEqual({
      sid: receipt.providerMessageId,
      to: '+15551234567',
      from: '+15005550006',
      body: 'Your code is 1234',
      idempotencyKey: 'delivery-2',
    });
  });

  it('is the SMS provider named twilio', () => {
    expect(vendors[1]!.provider()).toMatchObject({ channel: 'SMS', name: 'twilio' });
  });
});

describe('FcmProvider', () => {
  it('sends a notification with its data to the registration token and answers with the message name', async () => {
    const provider = vendors[2]!.provider();

    const receipt = await provider.send(
      { to: 'device-token-1', subject: 'Build failed', body: 'Step 3 failed', data: { executionId: 'ex-9' } },
      { idempotencyKey: 'delivery-3' },
    );

    expect(receipt.providerMessageId).toMatch(/^projects\/nexusflow-test\/messages\/\d+$/);
    expect(fakeFcm.accepted.at(-1)).toEqual({
      name: receipt.providerMessageId,
      to: 'device-token-1',
      title: 'Build failed',
      body: 'Step 3 failed',
      data: { executionId: 'ex-9' },
    });
  });

  it('is the PUSH provider named fcm', () => {
    expect(vendors[2]!.provider()).toMatchObject({ channel: 'PUSH', name: 'fcm' });
  });
});

describe.each(vendors)('the $name provider', (vendor) => {
  it('delivers and answers with the vendor id of the message', async () => {
    const receipt = await vendor.provider().send(message, { idempotencyKey: `ok-${vendor.name}` });

    expect(receipt.providerMessageId).not.toBe('');
  });

  it('fails for good with status 401 when its credentials are wrong, and does not repeat them', async () => {
    const error = await failure(vendor.provider({ secret: wrongSecret }).send(message, { idempotencyKey: 'k' }));

    expect(error).toMatchObject({ retryable: false, status: 401 });
    expect(error.message).not.toContain(wrongSecret);
  });

  it('fails retryably when the vendor is unavailable (503)', async () => {
    vendor.fake().failNext(1, 503);

    const error = await failure(vendor.provider().send(message, { idempotencyKey: 'k' }));

    expect(error).toMatchObject({ retryable: true, status: 503 });
  });

  it('fails retryably when the vendor is rate-limiting (429)', async () => {
    vendor.fake().failNext(1, 429);

    const error = await failure(vendor.provider().send(message, { idempotencyKey: 'k' }));

    expect(error).toMatchObject({ retryable: true, status: 429 });
  });

  it('delivers once the injected failures are used up', async () => {
    vendor.fake().failNext(2);
    const provider = vendor.provider();

    await failure(provider.send(message, { idempotencyKey: 'retried' }));
    await failure(provider.send(message, { idempotencyKey: 'retried' }));
    const receipt = await provider.send(message, { idempotencyKey: 'retried' });

    expect(receipt.providerMessageId).not.toBe('');
  });

  it('fails for good with status 400 when the vendor rejects the message as invalid, quoting its reason', async () => {
    const error = await failure(vendor.provider().send({ ...message, to: '' }, { idempotencyKey: 'k' }));

    expect(error).toMatchObject({ retryable: false, status: 400 });
    expect(error.message).toMatch(/required|not set/);
  });

  it('fails retryably without a status when the vendor never answers within the timeout', async () => {
    const provider = vendor.provider({ baseUrl: vendor.fake().hangingUrl, timeoutMs: 50 });

    const error = await failure(provider.send(message, { idempotencyKey: 'k' }));

    expect(error).toMatchObject({ retryable: true, status: undefined });
    expect(error.message).toContain('within 50 ms');
  });

  it('fails retryably when nothing listens at the address', async () => {
    const error = await failure(vendor.provider({ baseUrl: deadUrl }).send(message, { idempotencyKey: 'k' }));

    expect(error).toMatchObject({ retryable: true, status: undefined });
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('passes on the caller’s own abort instead of reporting a provider failure', async () => {
    const reason = new Error('shutting down');
    const provider = vendor.provider({ baseUrl: vendor.fake().hangingUrl });

    await expect(provider.send(message, { idempotencyKey: 'k', signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('keeps its secret out of every error message', async () => {
    vendor.fake().failNext(1, 500);
    const errors = [
      await failure(vendor.provider().send(message, { idempotencyKey: 'k' })),
      await failure(vendor.provider().send({ ...message, to: '' }, { idempotencyKey: 'k' })),
      await failure(vendor.provider({ baseUrl: vendor.fake().hangingUrl, timeoutMs: 50 }).send(message, { idempotencyKey: 'k' })),
      await failure(vendor.provider({ baseUrl: deadUrl }).send(message, { idempotencyKey: 'k' })),
    ];

    for (const error of errors) expect(error.message).not.toContain(vendor.secret);
  });
});

describe('failure classification', () => {
  it('blanks out a secret even when a vendor echoes it back', () => {
    const error = failureFromResponse('twilio', 401, JSON.stringify({ message: `token ${twilio.authToken} is not valid` }), [
      twilio.authToken,
    ]);

    expect(error.message).toBe('twilio answered 401: token [redacted] is not valid');
  });

  it('keeps a long vendor explanation short', () => {
    const error = failureFromResponse('fcm', 400, JSON.stringify({ error: { message: 'x'.repeat(1000) } }), []);

    expect(error.message.length).toBeLessThanOrEqual(200);
  });

  it('names only the status when the vendor explains nothing', () => {
    expect(failureFromResponse('sendgrid', 502, '<html>Bad Gateway</html>', [])).toMatchObject({
      message: 'sendgrid answered 502',
      retryable: true,
      status: 502,
    });
  });
});

describe('createProviders', () => {
  it('builds a provider for each configured vendor only, keyed by its channel', () => {
    const providers = createProviders({ twilio: { ...twilio, from: '+15005550006' }, fcm });

    expect(Object.keys(providers).sort()).toEqual(['PUSH', 'SMS']);
    expect(providers.SMS).toBeInstanceOf(TwilioProvider);
    expect(providers.PUSH).toBeInstanceOf(FcmProvider);
  });

  it('builds none when no vendor is configured', () => {
    expect(createProviders({})).toEqual({});
  });
});
