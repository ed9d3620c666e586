import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { notifyStep, type NotifyStepOptions } from './notify.ts';
import { StepRegistry } from './registry.ts';
import { stepContext, stepFailure } from './test-context.ts';
import type { StepContext } from './types.ts';

const OWNER = '6f1c2a4e-9d3b-4c7a-8e5f-0a1b2c3d4e5f';
const COLLEAGUE = '0b7e4d2c-1a3f-4e6d-9c8b-7a6f5e4d3c2b';
const SECRET = 'notify-step-test-secret-notify-step-test';

let listener: http.Server;
let listenerUrl: string;
let requestsReceived = 0;
let closedUrl: string;

beforeAll(async () => {
  // Counts what reaches it, to show that refused steps never call the notifications service.
  listener = http.createServer((_req, res) => {
    requestsReceived += 1;
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/graphql`;

  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/graphql`;
  await new Promise((resolve) => closed.close(resolve));
});

afterAll(async () => {
  listener.closeAllConnections();
  await new Promise((resolve) => listener.close(resolve));
});

afterEach(() => {
  requestsReceived = 0;
});

const registry = () => new StepRegistry().register(notifyStep({ notificationsUrl: listenerUrl, internalSecret: SECRET }));

/** Parses `config` as the registry would, then runs the step for a run owned by OWNER unless the context says otherwise. */
async function run(config: unknown, context: Partial<StepContext> = {}, options: Partial<NotifyStepOptions> = {}) {
  const step = notifyStep({ notificationsUrl: listenerUrl, internalSecret: SECRET, ...options });
  const execution = { id: 'exec-1', workflowId: 'wf-1', tenantId: 'tenant-1', ownerId: OWNER };
  return step.execute(step.config.parse(config), stepContext({ execution, ...context }));
}

describe('the notify step’s configuration', () => {
  it('needs only an event type, and then notifies the run’s owner', () => {
    expect(registry().parseConfig('notify', { eventType: 'invoice.overdue' })).toEqual({
      ok: true,
      config: { eventType: 'invoice.overdue' },
    });
  });

  it('takes a user id, or a template that renders one, and variables', () => {
    const variables = { title: 'Invoice {{input.number}} is overdue', amount: '{{steps.total.output}}', nested: { due: '{{input.due}}' } };
    for (const userId of [COLLEAGUE, '{{input.assigneeId}}', 'user-{{input.n}}']) {
      expect(registry().parseConfig('notify', { eventType: 'invoice.overdue', userId, variables })).toEqual({
        ok: true,
        config: { eventType: 'invoice.overdue', userId, variables },
      });
    }
  });

  it.each([
    ['no event type', {}, ['eventType: is required']],
    ['a blank event type', { eventType: '  ' }, ['eventType: must not be empty']],
    [
      'an event type longer than the notifications service stores',
      { eventType: 'x'.repeat(256) },
      ['eventType: must have at most 255 characters'],
    ],
    [
      'a user id that is neither an id nor a template',
      { eventType: 'a', userId: 'ada' },
      ['userId: is neither a user id nor a {{…}} template'],
    ],
    ['variables that are not an object', { eventType: 'a', variables: ['x'] }, [expect.stringMatching(/^variables: /)]],
    [
      'a misspelt field, which would otherwise notify the owner instead',
      { eventType: 'a', userID: COLLEAGUE },
      [expect.stringContaining('"userID"')],
    ],
  ])('reports %s', (_case, config, problems) => {
    expect(registry().parseConfig('notify', config)).toEqual({ ok: false, problems });
  });
});

describe('the notify step', () => {
  it('fails for good, without calling anyone, when the run has no owner to act for', async () => {
    const error = await stepFailure(
      run({ eventType: 'a' }, { execution: { id: 'exec-1', workflowId: 'wf-1', tenantId: 'tenant-1', ownerId: null } }),
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/no owner/);
    expect(requestsReceived).toBe(0);
  });

  it('fails for good, without calling anyone, when the user id renders to something that is not one', async () => {
    const error = await stepFailure(run({ eventType: 'a', userId: '{{input.assignee}}' }, { input: { assignee: 'ada@example.com' } }));
    expect(error).toMatchObject({ retryable: false, message: 'userId rendered to "ada@example.com", which is not a user id' });
    expect(requestsReceived).toBe(0);
  });

  it('fails retryably, without calling anyone, when already cancelled', async () => {
    const error = await stepFailure(run({ eventType: 'a' }, { signal: AbortSignal.abort() }));
    expect(error).toMatchObject({ retryable: true, message: 'timed out or cancelled' });
    expect(requestsReceived).toBe(0);
  });

  it('fails retryably when the notifications service cannot be reached, without naming its address', async () => {
    const error = await stepFailure(run({ eventType: 'a' }, {}, { notificationsUrl: closedUrl }));
    expect(error).toMatchObject({ retryable: true, details: { code: 'SERVICE_UNAVAILABLE' } });
    expect(error.message).toMatch(/^the notifications service could not take the notification: .*ECONNREFUSED/);
    expect(error.message).not.toContain('127.0.0.1');
  });

  it('fails retryably when the notifications service answers 503', async () => {
    const error = await stepFailure(run({ eventType: 'a' }));
    expect(error).toMatchObject({ retryable: true, details: { code: 'SERVICE_UNAVAILABLE', status: 503 } });
    expect(requestsReceived).toBe(1);
  });
});
