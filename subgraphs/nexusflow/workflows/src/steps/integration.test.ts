import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { integrationStep, stepErrorOf } from './integration.ts';
import { StepRegistry } from './registry.ts';
import { stepContext, stepFailure } from './test-context.ts';

const OWNER = '6f1c2a4e-9d3b-4c7a-8e5f-0a1b2c3d4e5f';
const INTEGRATION = '0b7e4d2c-1a3f-4e6d-9c8b-7a6f5e4d3c2b';
const SECRET = 'integration-step-test-secret-integration';

let listener: http.Server;
let listenerUrl: string;
let requestsReceived = 0;

beforeAll(async () => {
  // Counts what reaches it, to show that steps refused before the call never call the integrations service.
  listener = http.createServer((_req, res) => {
    requestsReceived += 1;
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/graphql`;
});

afterAll(async () => {
  listener.closeAllConnections();
  await new Promise((resolve) => listener.close(resolve));
});

afterEach(() => {
  requestsReceived = 0;
});

const registry = () => new StepRegistry().register(integrationStep({ integrationsUrl: listenerUrl, internalSecret: SECRET }));

function run(config: unknown, input: unknown = {}, ownerId: string | null = OWNER) {
  const step = integrationStep({ integrationsUrl: listenerUrl, internalSecret: SECRET });
  const execution = { id: 'exec-1', workflowId: 'wf-1', tenantId: 'tenant-1', ownerId };
  return step.execute(step.config.parse(config), stepContext({ execution, input }));
}

describe('the integration step’s configuration', () => {
  it('takes postMessage with an integration, a channel and a text, each templated', () => {
    const config = { action: 'postMessage', integrationId: '{{input.slack}}', channel: '#deals', text: 'New deal {{input.name}}' };
    expect(registry().parseConfig('integration', config)).toEqual({ ok: true, config });
  });

  it('takes sendToHook with any JSON payload', () => {
    const config = { action: 'sendToHook', integrationId: INTEGRATION, payload: { deal: '{{input.deal}}', tags: ['won'] } };
    expect(registry().parseConfig('integration', config)).toEqual({ ok: true, config });
  });

  it('takes upsertCrmRecord with the contact’s fields, and its id to change one', () => {
    const config = {
      action: 'upsertCrmRecord',
      contactId: '{{input.contactId}}',
      record: { email: '{{input.email}}', custom: { tier: 'gold' } },
    };
    expect(registry().parseConfig('integration', config)).toEqual({ ok: true, config });
    expect(registry().parseConfig('integration', { action: 'upsertCrmRecord', record: {} })).toEqual({
      ok: false,
      problems: ['record: needs at least one field'],
    });
    expect(registry().parseConfig('integration', { action: 'upsertCrmRecord', record: { mail: 'a@b.example' } })).toEqual({
      ok: false,
      problems: expect.arrayContaining([expect.stringMatching(/^record: .*mail/)]),
    });
  });

  it('names every problem: an unknown action, a blank text, an id that is no id, a misspelt field', () => {
    expect(registry().parseConfig('integration', { action: 'upsertEverything', integrationId: INTEGRATION })).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^action: /)],
    });
    expect(registry().parseConfig('integration', { action: 'postMessage', integrationId: 'slack', channel: '#a', text: ' ' })).toEqual({
      ok: false,
      problems: ['integrationId: is neither an integration id nor a {{…}} template', 'text: must not be empty'],
    });
    expect(registry().parseConfig('integration', { action: 'postMessage', integrationId: INTEGRATION, channel: '#a', txt: 'hi' })).toEqual({
      ok: false,
      problems: ['text: is required', expect.stringMatching(/txt/)],
    });
    expect(registry().parseConfig('integration', { action: 'sendToHook', integrationId: INTEGRATION })).toEqual({
      ok: false,
      problems: ['payload: is required'],
    });
  });
});

describe('the integration step’s failures', () => {
  it('fails for good, without calling the service, when the integration id renders to no id or the text to nothing', async () => {
    const unknown = await stepFailure(
      run({ action: 'postMessage', integrationId: '{{input.id}}', channel: '#a', text: 'hi' }, { id: 'slack' }),
    );
    expect(unknown).toMatchObject({ retryable: false, message: 'integrationId rendered to "slack", which is not an integration id' });
    const blank = await stepFailure(run({ action: 'postMessage', integrationId: INTEGRATION, channel: '#a', text: '{{input.missing}}' }));
    expect(blank).toMatchObject({ retryable: false, message: 'text rendered to nothing' });
    expect(requestsReceived).toBe(0);
  });

  it('fails for good when the run has no owner to act for', async () => {
    const failure = await stepFailure(run({ action: 'sendToHook', integrationId: INTEGRATION, payload: {} }, {}, null));
    expect(failure.retryable).toBe(false);
    expect(requestsReceived).toBe(0);
  });

  it('fails an attempt retryably while the integrations service answers 503', async () => {
    const failure = await stepFailure(run({ action: 'sendToHook', integrationId: INTEGRATION, payload: { a: 1 } }));
    expect(failure).toMatchObject({ retryable: true, details: { code: 'SERVICE_UNAVAILABLE' } });
    expect(requestsReceived).toBe(1);
  });

  it('keeps the provider’s verdict: rate limits and outages retryable, refusals and unknown integrations not', () => {
    const failed = (reason: string, retryable: boolean, providerError: string | null, retryAfterSeconds: number | null = null) =>
      stepErrorOf({
        __typename: 'IntegrationActionFailed',
        message: `Slack: ${reason}`,
        reason: reason as never,
        retryable,
        providerError,
        retryAfterSeconds,
      });
    expect(failed('RATE_LIMITED', true, 'ratelimited', 30)).toMatchObject({
      retryable: true,
      message: 'Slack: RATE_LIMITED',
      details: { reason: 'RATE_LIMITED', providerError: 'ratelimited', retryAfterSeconds: 30 },
      retryAfterMs: 30_000,
    });
    expect(failed('UNAVAILABLE', true, null)).toMatchObject({ retryable: true, details: { reason: 'UNAVAILABLE' } });
    expect(failed('UNAVAILABLE', true, null).retryAfterMs).toBeUndefined();
    expect(failed('REFUSED', false, 'channel_not_found')).toMatchObject({
      retryable: false,
      details: { reason: 'REFUSED', providerError: 'channel_not_found' },
    });
    expect(failed('TOKEN_EXPIRED', false, 'invalid_auth').retryable).toBe(false);
    expect(stepErrorOf({ __typename: 'IntegrationNotFound', message: `No integration ${INTEGRATION}` })).toMatchObject({
      retryable: false,
      message: `the integration is not connected: No integration ${INTEGRATION}`,
    });
  });
});
