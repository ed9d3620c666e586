import { describe, expect, it } from 'vitest';
import { conditionStep, type ConditionStepConfig } from './condition.ts';
import { stepContext, stepFailure } from './test-context.ts';
import { StepError } from './types.ts';

const context = stepContext({
  input: { amount: 120, email: 'ada@example.com', tags: ['vip', 'beta'], customer: { tier: 'gold', since: '2021-03-04' }, empty: null },
  steps: { score: { output: { value: 0.7 } } },
});

async function decide(config: Omit<ConditionStepConfig, 'then' | 'else'>) {
  const step = conditionStep();
  return step.execute(step.config.parse({ then: 'yes', else: 'no', ...config }), context);
}

async function matches(config: Omit<ConditionStepConfig, 'then' | 'else'>): Promise<boolean> {
  const outcome = await decide(config);
  return (outcome.output as { matched: boolean }).matched;
}

describe('the condition step', () => {
  it('branches to "then" when the condition holds', async () => {
    await expect(decide({ left: '{{input.amount}}', operator: 'gt', right: 100 })).resolves.toEqual({
      kind: 'branched',
      next: 'yes',
      output: { matched: true },
    });
  });

  it('branches to "else" when it does not', async () => {
    await expect(decide({ left: '{{input.amount}}', operator: 'lt', right: 100 })).resolves.toEqual({
      kind: 'branched',
      next: 'no',
      output: { matched: false },
    });
  });

  it('can end the workflow from either branch', async () => {
    const step = conditionStep();
    const config = step.config.parse({ left: 1, operator: 'eq', right: 1, then: null, else: 'no' });
    await expect(step.execute(config, context)).resolves.toMatchObject({ next: null });
  });

  it.each([
    ['equal objects', { tier: 'gold', since: '2021-03-04' }, true],
    ['objects with another value', { tier: 'silver', since: '2021-03-04' }, false],
    ['objects with an extra key', { tier: 'gold', since: '2021-03-04', extra: 1 }, false],
  ])('compares %s deeply with eq', async (_name, right, expected) => {
    expect(await matches({ left: '{{input.customer}}', operator: 'eq', right })).toBe(expected);
  });

  it('compares arrays element by element with eq', async () => {
    expect(await matches({ left: '{{input.tags}}', operator: 'eq', right: ['vip', 'beta'] })).toBe(true);
    expect(await matches({ left: '{{input.tags}}', operator: 'eq', right: ['beta', 'vip'] })).toBe(false);
  });

  it('does not consider a number equal to its text with eq', async () => {
    expect(await matches({ left: '{{input.amount}}', operator: 'eq', right: '120' })).toBe(false);
    expect(await matches({ left: '{{input.amount}}', operator: 'neq', right: '120' })).toBe(true);
  });

  it('renders both sides before comparing', async () => {
    expect(await matches({ left: 'tier={{input.customer.tier}}', operator: 'eq', right: 'tier={{input.customer.tier}}' })).toBe(true);
  });

  it.each([
    ['gt', 120, false],
    ['gte', 120, true],
    ['lt', 121, true],
    ['lte', 119, false],
  ] as const)('compares numbers with %s', async (operator, right, expected) => {
    expect(await matches({ left: '{{input.amount}}', operator, right })).toBe(expected);
  });

  it('compares ISO dates and date-times by time', async () => {
    expect(await matches({ left: '{{input.customer.since}}', operator: 'lt', right: '2022-01-01' })).toBe(true);
    expect(await matches({ left: '2024-05-01T10:00:00+02:00', operator: 'lt', right: '2024-05-01T09:30:00Z' })).toBe(true);
    expect(await matches({ left: '2024-05-01T00:00:00.000Z', operator: 'gte', right: '2024-05-01' })).toBe(true);
  });

  it.each([
    ['a number and its text', 120, '100'],
    ['text that is not a date', 'banana', 'apple'],
    ['a date-time without a zone', '2024-05-01T10:00:00', '2024-05-01'],
    ['a missing value', '{{input.missing}}', 3],
  ])('fails for good when ordering %s', async (_name, left, right) => {
    const error = await decide({ left, operator: 'gt', right }).catch((error: unknown) => error);
    expect(error).toBeInstanceOf(StepError);
    expect(error).toMatchObject({ retryable: false });
  });

  it('finds a substring with contains', async () => {
    expect(await matches({ left: '{{input.email}}', operator: 'contains', right: '@example.com' })).toBe(true);
    expect(await matches({ left: '{{input.email}}', operator: 'contains', right: '@example.org' })).toBe(false);
  });

  it('finds an equal element in an array with contains', async () => {
    expect(await matches({ left: '{{input.tags}}', operator: 'contains', right: 'vip' })).toBe(true);
    expect(await matches({ left: [{ id: 1 }, { id: 2 }], operator: 'contains', right: { id: 2 } })).toBe(true);
    expect(await matches({ left: '{{input.tags}}', operator: 'contains', right: 'gold' })).toBe(false);
  });

  it('fails for good when contains is given neither a string nor an array', async () => {
    await expect(decide({ left: '{{input.amount}}', operator: 'contains', right: 1 })).rejects.toBeInstanceOf(StepError);
  });

  it('treats missing paths and null as not existing', async () => {
    expect(await matches({ left: '{{steps.score.output.value}}', operator: 'exists' })).toBe(true);
    expect(await matches({ left: '{{input.missing}}', operator: 'exists' })).toBe(false);
    expect(await matches({ left: '{{input.empty}}', operator: 'notExists' })).toBe(true);
    expect(await matches({ left: '{{input.amount}}', operator: 'notExists' })).toBe(false);
  });
});

describe('the condition step with an expression', () => {
  const holds = async (expression: string) => matches({ expression });

  it('branches by a JSONata expression over the input and earlier outputs', async () => {
    await expect(decide({ expression: 'input.amount > 100 and "vip" in input.tags' })).resolves.toEqual({
      kind: 'branched',
      next: 'yes',
      output: { matched: true },
    });
    await expect(decide({ expression: 'steps.score.output.value < 0.5' })).resolves.toMatchObject({
      next: 'no',
      output: { matched: false },
    });
  });

  it("holds by JSONata's rules of truth: a non-empty string does, null, a missing field and an empty match do not", async () => {
    expect(await holds('input.email')).toBe(true);
    expect(await holds('input.empty')).toBe(false);
    expect(await holds('input.missing')).toBe(false);
    expect(await holds('input.tags[$ = "gold"]')).toBe(false);
  });

  it('uses string, array and date functions', async () => {
    expect(await holds('$contains($lowercase(input.email), "@example.")')).toBe(true);
    expect(await holds('$count(input.tags[$ in ["vip", "gold"]]) = 1')).toBe(true);
    expect(await holds('$toMillis(input.customer.since & "T00:00:00Z") < $toMillis($now())')).toBe(true);
    expect(await holds('$fromMillis(0) = "1970-01-01T00:00:00.000Z"')).toBe(true);
  });

  it('takes expressions in the operands of the operator form too', async () => {
    expect(await matches({ left: '{{= $count(input.tags) }}', operator: 'eq', right: 2 })).toBe(true);
  });

  it('fails for good when the expression fails or runs too long', async () => {
    const typeError = await stepFailure(decide({ expression: 'input.email > 3' }));
    expect(typeError).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/^expression: the expression failed: /) as unknown,
    });
    const runaway = await stepFailure(decide({ expression: '[1..99999].$sum([1..99999]) > 0' }));
    expect(runaway).toMatchObject({
      retryable: false,
      message: 'expression: the expression failed: The expression ran longer than 250 ms',
    });
  });

  it('refuses, with its position, an expression that does not compile', () => {
    const parsed = conditionStep().config.safeParse({ expression: 'input.amount >', then: 'yes', else: 'no' });
    expect(parsed.success ? [] : parsed.error.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      ['expression', 'is not a valid JSONata expression: Unexpected end of expression (at character 14)'],
    ]);
  });

  it('refuses an expression together with the operator form, and a condition with neither', () => {
    const problems = (config: object) => {
      const parsed = conditionStep().config.safeParse({ then: 'yes', else: 'no', ...config });
      return parsed.success ? [] : parsed.error.issues.map((issue) => issue.path.join('.'));
    };
    expect(problems({ expression: 'true', left: 1, operator: 'eq', right: 1 })).toEqual(['left', 'operator', 'right']);
    expect(problems({})).toEqual(['operator']);
    expect(problems({ operator: 'exists' })).toEqual(['left']);
  });
});
