import { describe, expect, it } from 'vitest';
import { defaultStepRegistry } from '../steps/index.ts';
import { backoffDelay, parseDefinition, retryDelay } from './definition.ts';

const registryWith = (allowPrivateNetworks: boolean) =>
  defaultStepRegistry({
    allowPrivateNetworks,
    notify: { notificationsUrl: 'http://127.0.0.1:3005/graphql', internalSecret: 'a secret long enough to sign identities with' },
    ai: { aiUrl: 'http://127.0.0.1:3003/graphql', internalSecret: 'a secret long enough to sign identities with' },
    integration: { integrationsUrl: 'http://127.0.0.1:3004/graphql', internalSecret: 'a secret long enough to sign identities with' },
  });

const ALLOW_HINT = '(set ALLOW_PRIVATE_NETWORK_STEPS=true on the workflows service to allow them)';

const workflowCalling = (...urls: string[]) => ({
  name: 'Sync orders',
  steps: urls.map((url, index) => ({ key: `call${index + 1}`, type: 'http', config: { url } })),
});

describe('parsing a workflow definition', () => {
  it('refuses an http step whose URL is not http or https, naming the step and its scheme', () => {
    expect(
      parseDefinition(workflowCalling('https://api.example.com/orders', 'ftp://files.example.com/orders.csv'), registryWith(true)),
    ).toEqual({
      ok: false,
      problems: [{ field: 'steps.1.config', problem: 'step "call2": url: only http and https URLs are allowed, not ftp:' }],
    });
  });

  it('refuses an http step whose URL names a loopback, private or link-local address, naming the step, the address and the setting that allows it', () => {
    expect(
      parseDefinition(
        workflowCalling('http://127.0.0.1:9000/hook', 'https://10.0.0.5/orders', 'http://169.254.169.254/latest/meta-data/'),
        registryWith(false),
      ),
    ).toEqual({
      ok: false,
      problems: [
        { field: 'steps.0.config', problem: `step "call1": url: would call 127.0.0.1: loopback addresses are blocked ${ALLOW_HINT}` },
        { field: 'steps.1.config', problem: `step "call2": url: would call 10.0.0.5: private network addresses are blocked ${ALLOW_HINT}` },
        {
          field: 'steps.2.config',
          problem: `step "call3": url: would call 169.254.169.254: link-local addresses are blocked ${ALLOW_HINT}`,
        },
      ],
    });
  });

  it('accepts those addresses where the service allows private networks', () => {
    expect(parseDefinition(workflowCalling('http://127.0.0.1:9000/hook', 'https://10.0.0.5/orders'), registryWith(true))).toMatchObject({
      ok: true,
    });
  });

  it('accepts URLs whose scheme or host comes from a placeholder, which the step checks when it runs', () => {
    expect(
      parseDefinition(
        workflowCalling('{{input.url}}', 'https://{{input.host}}/orders', 'https://api.example.com/orders/{{input.id}}'),
        registryWith(false),
      ),
    ).toMatchObject({
      ok: true,
    });
  });

  it('names the step in every problem of its config', () => {
    const definition = {
      name: 'Branching',
      steps: [
        { key: 'check', type: 'condition', config: { left: 1, operator: 'eq', right: 1, then: 'nowhere', else: null } },
        { key: 'wait', type: 'delay', config: { durationMs: -5 } },
      ],
    };
    const parsed = parseDefinition(definition, registryWith(false));
    expect(parsed.ok ? [] : parsed.problems.map((problem) => [problem.field, problem.problem.split(':')[0]])).toEqual([
      ['steps.0.config', 'step "check"'],
      ['steps.1.config', 'step "wait"'],
    ]);
  });
});

describe('backing off between attempts', () => {
  const policy = { maxAttempts: 5, initialBackoffMs: 1000, maxBackoffMs: 5000 };

  it('doubles the wait per failed attempt, with up to a fifth more as jitter', () => {
    expect([1, 2, 3].map((attempt) => backoffDelay(policy, attempt, () => 0))).toEqual([1000, 2000, 4000]);
    expect(backoffDelay(policy, 1, () => 1)).toBe(1200);
  });

  it('never waits longer than the policy’s maximum, jitter included', () => {
    expect(backoffDelay(policy, 3, () => 1)).toBe(4800);
    expect(backoffDelay(policy, 4, () => 1)).toBe(5000);
    expect(backoffDelay(policy, 10, () => 0.5)).toBe(5000);
  });

  it('waits as long as the called service’s Retry-After asks when that is longer than the backoff, up to the cap', () => {
    const noJitter = () => 0;
    expect(retryDelay(policy, 1, 30_000, 60_000, noJitter)).toBe(30_000);
    expect(retryDelay(policy, 1, 3_600_000, 60_000, noJitter)).toBe(60_000);
  });

  it('keeps the backoff when the hint is shorter, absent or meaningless', () => {
    const noJitter = () => 0;
    expect(retryDelay(policy, 3, 1000, 60_000, noJitter)).toBe(4000);
    expect(retryDelay(policy, 2, undefined, 60_000, noJitter)).toBe(2000);
    expect(retryDelay(policy, 2, -5, 60_000, noJitter)).toBe(2000);
    expect(retryDelay(policy, 2, Number.NaN, 60_000, noJitter)).toBe(2000);
  });

  it('compiles every expression of every step at save time, refusing a syntax error with the step, the field and its position', () => {
    const definition = {
      name: 'Expressions',
      steps: [
        { key: 'check', type: 'condition', config: { expression: 'input.amount >', then: 'shape', else: null } },
        { key: 'shape', type: 'transform', config: { template: { total: 'Total: {{= $sum(input.lines.price }}' } } },
        { key: 'call', type: 'http', config: { url: 'https://api.example.com/{{= input.id', method: 'POST' } },
        { key: 'fine', type: 'transform', config: { expression: '$sum(input.lines.price)' } },
      ],
    };
    expect(parseDefinition(definition, registryWith(false))).toEqual({
      ok: false,
      problems: [
        {
          field: 'steps.0.config',
          problem: 'step "check": expression: is not a valid JSONata expression: Unexpected end of expression (at character 14)',
        },
        {
          field: 'steps.1.config',
          problem:
            'step "shape": template.total: {{= … }} is not a valid JSONata expression: Expected ")" before end of expression (at character 34)',
        },
        { field: 'steps.2.config', problem: 'step "call": url: the {{= at character 24 is not closed by }}' },
      ],
    });
  });
});
