import { describe, expect, it } from 'vitest';
import { delayStep, MAX_DELAY_MS } from './delay.ts';
import { stepContext, stepFailure } from './test-context.ts';
import { transformStep } from './transform.ts';

describe('the delay step', () => {
  it('asks the engine to wait for the configured time', async () => {
    const step = delayStep();
    await expect(step.execute(step.config.parse({ durationMs: 1500 }), stepContext())).resolves.toEqual({
      kind: 'delayed',
      delayMs: 1500,
      output: { delayedMs: 1500 },
    });
  });

  it.each([1, MAX_DELAY_MS])('accepts a duration of %d ms', (durationMs) => {
    expect(delayStep().config.safeParse({ durationMs }).success).toBe(true);
  });

  it.each([0, -5, 1.5, MAX_DELAY_MS + 1, '1000'])('rejects a duration of %j', (durationMs) => {
    expect(delayStep().config.safeParse({ durationMs }).success).toBe(false);
  });
});

describe('the transform step', () => {
  it('outputs its template rendered against the execution', async () => {
    const step = transformStep();
    const context = stepContext({ input: { name: 'Ada' }, steps: { fetch: { output: { items: [1, 2] } } } });
    const config = step.config.parse({
      template: { greeting: 'Hi {{input.name}}', items: '{{steps.fetch.output.items}}', run: '{{execution.id}}' },
    });
    await expect(step.execute(config, context)).resolves.toEqual({
      kind: 'completed',
      output: { greeting: 'Hi Ada', items: [1, 2], run: 'exec-1' },
    });
  });

  it('requires a template', () => {
    expect(transformStep().config.safeParse({}).success).toBe(false);
  });

  it('outputs the value of a JSONata expression instead', async () => {
    const step = transformStep();
    const context = stepContext({
      input: { customer: { email: 'ADA@Example.com' } },
      steps: {
        fetch: {
          output: {
            lines: [
              { sku: 'a', qty: 2, price: 5 },
              { sku: 'b', qty: 1, price: 30 },
            ],
          },
        },
      },
    });
    const config = step.config.parse({
      expression:
        '{"email": $lowercase(input.customer.email), "total": $sum(steps.fetch.output.lines.(qty * price)), "large": steps.fetch.output.lines[price > 10].sku[]}',
    });
    await expect(step.execute(config, context)).resolves.toEqual({
      kind: 'completed',
      output: { email: 'ada@example.com', total: 40, large: ['b'] },
    });
  });

  it('outputs null when the expression matches nothing', async () => {
    const step = transformStep();
    await expect(step.execute(step.config.parse({ expression: 'input.missing' }), stepContext())).resolves.toEqual({
      kind: 'completed',
      output: null,
    });
  });

  it('evaluates expressions inside its template', async () => {
    const step = transformStep();
    const config = step.config.parse({ template: { count: '{{= $count(input.tags) }}', label: 'tags: {{= $join(input.tags, "+") }}' } });
    await expect(step.execute(config, stepContext({ input: { tags: ['x', 'y'] } }))).resolves.toMatchObject({
      output: { count: 2, label: 'tags: x+y' },
    });
  });

  it('fails for good when the expression builds too large a result', async () => {
    const step = transformStep();
    const failure = await stepFailure(step.execute(step.config.parse({ expression: '$pad("", 300000, "x")' }), stepContext()));
    expect(failure).toMatchObject({ retryable: false, message: 'expression: the expression failed: The result exceeds 262144 bytes' });
  });

  it('refuses an expression that does not compile, with its position, and one given with a template', () => {
    const issues = (config: object) => {
      const parsed = transformStep().config.safeParse(config);
      return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    };
    expect(issues({ expression: '$sum(items' })).toEqual([
      'expression: is not a valid JSONata expression: Expected ")" before end of expression (at character 10)',
    ]);
    expect(issues({ expression: 'items', template: {} })).toEqual(['template: does not go with an expression']);
  });
});
