import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { defaultStepRegistry, StepRegistry } from './registry.ts';
import { stepContext } from './test-context.ts';
import type { StepExecutor } from './types.ts';

const registry = defaultStepRegistry({
  allowPrivateNetworks: false,
  notify: { notificationsUrl: 'http://127.0.0.1:3005/graphql', internalSecret: 'a secret long enough to sign identities with' },
  ai: { aiUrl: 'http://127.0.0.1:3003/graphql', internalSecret: 'a secret long enough to sign identities with' },
  integration: { integrationsUrl: 'http://127.0.0.1:3004/graphql', internalSecret: 'a secret long enough to sign identities with' },
});

describe('the default step registry', () => {
  it('knows the built-in step types', () => {
    expect(registry.types()).toEqual(['http', 'delay', 'condition', 'transform', 'notify', 'ai', 'integration']);
    expect(registry.get('http')?.type).toBe('http');
    expect(registry.get('nonexistent')).toBeUndefined();
  });

  it('returns the parsed config with defaults applied', () => {
    expect(registry.parseConfig('http', { url: 'https://example.com/{{input.id}}' })).toEqual({
      ok: true,
      config: { method: 'GET', url: 'https://example.com/{{input.id}}' },
    });
  });

  it('reports every problem with the field it concerns', () => {
    const result = registry.parseConfig('http', { method: 'FETCH', expectStatus: [99] });
    expect(result).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^method: /), 'url: is required', expect.stringMatching(/^expectStatus\.0: /)],
    });
  });

  it('reports headers the step sets itself and malformed header names', () => {
    const result = registry.parseConfig('http', {
      url: 'https://example.com',
      headers: { 'Idempotency-Key': 'x', 'Bad Name': 'y', Accept: 'text/csv' },
    });
    expect(result).toEqual({
      ok: false,
      problems: ['headers.Idempotency-Key: is set automatically', 'headers.Bad Name: is not a valid header name'],
    });
  });

  it('reports a body on a GET request', () => {
    expect(registry.parseConfig('http', { url: 'https://example.com', body: { a: 1 } })).toEqual({
      ok: false,
      problems: ['body: GET requests cannot have a body'],
    });
  });

  it('reports a missing right-hand side for a comparison but not for exists', () => {
    expect(registry.parseConfig('condition', { left: 1, operator: 'eq', then: 'a', else: null })).toEqual({
      ok: false,
      problems: ['right: is required by the eq operator'],
    });
    expect(registry.parseConfig('condition', { left: 1, operator: 'exists', then: 'a', else: null })).toMatchObject({ ok: true });
  });

  it('reports a config that is not an object', () => {
    expect(registry.parseConfig('delay', 'soon')).toEqual({ ok: false, problems: [expect.stringContaining('expected object')] });
  });

  it('reports an unknown step type together with the known ones', () => {
    expect(registry.parseConfig('fax', {})).toEqual({
      ok: false,
      problems: ['unknown step type "fax"; known types: http, delay, condition, transform, notify, ai, integration'],
    });
  });
});

describe('a step registry', () => {
  const echo: StepExecutor<{ text: string }> = {
    type: 'echo',
    description: 'Outputs its text.',
    config: z.object({ text: z.string() }),
    async execute(config) {
      return { kind: 'completed', output: config.text };
    },
  };

  it('runs step types registered later, such as integrations', async () => {
    const registry = new StepRegistry().register(echo);
    const parsed = registry.parseConfig('echo', { text: 'hi' });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    await expect(registry.get('echo')?.execute(parsed.config, stepContext())).resolves.toEqual({ kind: 'completed', output: 'hi' });
  });

  it('refuses to register a type twice', () => {
    const registry = new StepRegistry().register(echo);
    expect(() => registry.register(echo)).toThrow('step type "echo" is already registered');
  });
});
