import { describe, expect, it } from 'vitest';
import { delayStep, MAX_DELAY_MS } from './delay.ts';
import { stepContext } from './test-context.ts';
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
});
