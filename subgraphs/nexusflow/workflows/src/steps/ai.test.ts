import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { aiStep, type AiStepOptions } from './ai.ts';
import { StepRegistry } from './registry.ts';
import { stepContext, stepFailure } from './test-context.ts';
import type { StepContext } from './types.ts';

const OWNER = '6f1c2a4e-9d3b-4c7a-8e5f-0a1b2c3d4e5f';
const SECRET = 'ai-step-test-secret-ai-step-test-secret';

let listener: http.Server;
let listenerUrl: string;
let status = 503;
let requestsReceived = 0;
let closedUrl: string;

beforeAll(async () => {
  // Answers with the status a test sets, and counts what reaches it, to show that refused steps never call the ai service.
  listener = http.createServer((_req, res) => {
    requestsReceived += 1;
    res.writeHead(status).end();
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
  status = 503;
});

const registry = () => new StepRegistry().register(aiStep({ aiUrl: listenerUrl, internalSecret: SECRET }));

/** Parses `config` as the registry would, then runs the step for a run owned by OWNER unless the context says otherwise. */
async function run(config: unknown, context: Partial<StepContext> = {}, options: Partial<AiStepOptions> = {}) {
  const step = aiStep({ aiUrl: listenerUrl, internalSecret: SECRET, ...options });
  const execution = { id: 'exec-1', workflowId: 'wf-1', tenantId: 'tenant-1', ownerId: OWNER };
  return step.execute(step.config.parse(config), stepContext({ execution, ...context }));
}

const classify = { operation: 'classify', text: '{{input.message}}', labels: ['billing', 'bug'] };

describe('the ai step’s configuration', () => {
  it.each([
    ['a completion of a prompt', { operation: 'complete', prompt: 'Reply to {{input.message}}', system: 'Be brief', maxTokens: 200 }],
    [
      'a completion of a template of the prompt library',
      { operation: 'complete', template: { name: 'reply' }, variables: { a: '{{input.a}}' } },
    ],
    ['a classification', { ...classify, template: { name: 'classify', version: 2 } }],
    [
      'an extraction',
      { operation: 'extract', text: '{{input.email}}', schema: { type: 'object', properties: { name: { type: 'string' } } } },
    ],
    ['a summary', { operation: 'summarize', text: '{{steps.fetch.output.body}}', maxWords: 50 }],
  ])('takes %s', (_case, config) => {
    expect(registry().parseConfig('ai', config)).toEqual({ ok: true, config });
  });

  it.each([
    ['an unknown operation', { operation: 'translate', text: 'x' }, [expect.stringMatching(/^operation: /)]],
    ['a completion with neither prompt nor template', { operation: 'complete' }, ['prompt: needs either a prompt or a template, not both']],
    [
      'a completion with both prompt and template',
      { operation: 'complete', prompt: 'x', template: { name: 'reply' } },
      ['prompt: needs either a prompt or a template, not both'],
    ],
    ['a classification with one label', { ...classify, labels: ['bug'] }, [expect.stringMatching(/^labels: /)]],
    ['a blank text', { ...classify, text: ' ' }, ['text: must not be empty']],
    ['an extraction without a schema', { operation: 'extract', text: 'x' }, ['schema: is required']],
    ['a misspelt field', { ...classify, label: ['a', 'b'] }, [expect.stringContaining('"label"')]],
  ])('reports %s', (_case, config, problems) => {
    expect(registry().parseConfig('ai', config)).toEqual({ ok: false, problems });
  });
});

describe('the ai step', () => {
  it('fails for good, without calling anyone, when the run has no owner to act for', async () => {
    const error = await stepFailure(
      run(classify, { input: { message: 'x' }, execution: { id: 'exec-1', workflowId: 'wf-1', tenantId: 'tenant-1', ownerId: null } }),
    );
    expect(error).toMatchObject({ retryable: false, message: expect.stringMatching(/no owner/) });
    expect(requestsReceived).toBe(0);
  });

  it('fails for good, without calling anyone, when the text renders to nothing', async () => {
    const error = await stepFailure(run(classify, { input: {} }));
    expect(error).toMatchObject({ retryable: false, message: 'text rendered to nothing', details: { field: 'text' } });
    expect(requestsReceived).toBe(0);
  });

  it('fails retryably, without calling anyone, when already cancelled', async () => {
    const error = await stepFailure(run(classify, { input: { message: 'x' }, signal: AbortSignal.abort() }));
    expect(error).toMatchObject({ retryable: true, message: 'timed out or cancelled' });
    expect(requestsReceived).toBe(0);
  });

  it('fails retryably when the ai service cannot be reached, without naming its address', async () => {
    const error = await stepFailure(run(classify, { input: { message: 'x' } }, { aiUrl: closedUrl }));
    expect(error).toMatchObject({ retryable: true, details: { code: 'SERVICE_UNAVAILABLE' } });
    expect(error.message).toMatch(/^the ai service could not answer: .*ECONNREFUSED/);
    expect(error.message).not.toContain('127.0.0.1');
  });

  it.each([
    [503, 'SERVICE_UNAVAILABLE'],
    [429, 'RATE_LIMITED'],
  ])('fails retryably when the ai service answers %i', async (answered, code) => {
    status = answered;
    const error = await stepFailure(run(classify, { input: { message: 'x' } }));
    expect(error).toMatchObject({ retryable: true, details: { code, status: answered } });
    expect(requestsReceived).toBe(1);
  });

  it('fails for good when the ai service answers 400', async () => {
    status = 400;
    const error = await stepFailure(run(classify, { input: { message: 'x' } }));
    expect(error).toMatchObject({ retryable: false, message: expect.stringMatching(/^the ai service refused the request: /) });
  });
});
