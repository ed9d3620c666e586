import { z } from 'zod';
import { expressionHolds, expressionProblem } from '../expressions/step-expressions.ts';
import { evaluateTemplate, templateData } from './template.ts';
import { StepError, type StepContext, type StepExecutor } from './types.ts';

const UNARY_OPERATORS = ['exists', 'notExists'] as const;
const BINARY_OPERATORS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'contains'] as const;

const stepKey = z.string().min(1).nullable();

export const conditionStepConfig = z
  .object({
    /**
     * A JSONata expression over `input`, `steps` and `execution`; the condition holds when its value is true by
     * JSONata's rules (`$boolean`). Instead of `left`, `operator` and `right`.
     */
    expression: z.string().min(1).optional(),
    /** Templated; required by every operator. */
    left: z.unknown().optional(),
    operator: z.enum([...BINARY_OPERATORS, ...UNARY_OPERATORS]).optional(),
    /** Templated; required by every operator except `exists` and `notExists`. */
    right: z.unknown().optional(),
    /** The step to continue with when the condition holds; `null` ends the workflow. */
    then: stepKey,
    /** The step to continue with when it does not; `null` ends the workflow. */
    else: stepKey,
  })
  .superRefine((config, ctx) => {
    if (config.expression !== undefined) {
      for (const field of ['left', 'operator', 'right'] as const) {
        if (config[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'does not go with an expression' });
      }
      const problem = expressionProblem(config.expression);
      if (problem) ctx.addIssue({ code: 'custom', path: ['expression'], message: problem });
      return;
    }
    if (config.operator === undefined) {
      ctx.addIssue({ code: 'custom', path: ['operator'], message: 'is required unless the condition is an expression' });
      return;
    }
    if (config.left === undefined)
      ctx.addIssue({ code: 'custom', path: ['left'], message: `is required by the ${config.operator} operator` });
    const isUnary = (UNARY_OPERATORS as readonly string[]).includes(config.operator);
    if (!isUnary && config.right === undefined) {
      ctx.addIssue({ code: 'custom', path: ['right'], message: `is required by the ${config.operator} operator` });
    }
  });

export type ConditionStepConfig = z.output<typeof conditionStepConfig>;
export type ConditionOperator = NonNullable<ConditionStepConfig['operator']>;

/**
 * Chooses the next step by a JSONata expression, or by comparing two rendered values.
 *
 * `eq`/`neq` compare JSON values deeply and strictly (`1` is not `"1"`). Ordering operators compare two numbers, or
 * two ISO 8601 dates or date-times. `contains` looks for a substring in a string or an equal element in an array.
 * Operands an operator cannot compare fail the step rather than evaluate to false, because a condition that quietly
 * always takes the same branch is far harder to notice than a failed execution.
 */
export function conditionStep(): StepExecutor<ConditionStepConfig> {
  return {
    type: 'condition',
    description: 'Tests an expression, or compares two values, and continues with one step or another depending on the result.',
    config: conditionStepConfig,
    async execute(config, context) {
      const matched = await holds(config, context);
      return { kind: 'branched', next: matched ? config.then : config.else, output: { matched } };
    },
  };
}

async function holds(config: ConditionStepConfig, context: StepContext): Promise<boolean> {
  if (config.expression !== undefined) return expressionHolds(config.expression, templateData(context), 'expression');
  if (config.operator === undefined) throw new StepError('the condition has neither an expression nor an operator', false);
  const left = await evaluateTemplate(config.left, context, 'left');
  const right = await evaluateTemplate(config.right, context, 'right');
  return evaluate(config.operator, left, right);
}

export function evaluate(operator: ConditionOperator, left: unknown, right: unknown): boolean {
  switch (operator) {
    case 'exists':
      return left !== null && left !== undefined;
    case 'notExists':
      return left === null || left === undefined;
    case 'eq':
      return deepEqual(left, right);
    case 'neq':
      return !deepEqual(left, right);
    case 'gt':
      return compare(operator, left, right) > 0;
    case 'gte':
      return compare(operator, left, right) >= 0;
    case 'lt':
      return compare(operator, left, right) < 0;
    case 'lte':
      return compare(operator, left, right) <= 0;
    case 'contains':
      return contains(left, right);
  }
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, index) => deepEqual(item, b[index]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
  }
  return false;
}

// Date-times must carry a zone: without one, Date.parse reads them in the server's local time.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

function compare(operator: ConditionOperator, left: unknown, right: unknown): number {
  if (typeof left === 'number' && typeof right === 'number' && Number.isFinite(left) && Number.isFinite(right)) {
    return left - right;
  }
  const leftTime = isoTime(left);
  const rightTime = isoTime(right);
  if (leftTime !== null && rightTime !== null) return leftTime - rightTime;
  throw incomparable(operator, left, right, 'two numbers or two ISO 8601 dates');
}

function isoTime(value: unknown): number | null {
  if (typeof value !== 'string' || !ISO_DATE.test(value)) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : time;
}

function contains(left: unknown, right: unknown): boolean {
  if (typeof left === 'string' && typeof right === 'string') return left.includes(right);
  if (Array.isArray(left)) return left.some((item) => deepEqual(item, right));
  throw incomparable('contains', left, right, 'a string and a substring, or an array and an element');
}

function incomparable(operator: ConditionOperator, left: unknown, right: unknown, expected: string): StepError {
  return new StepError(`the ${operator} operator needs ${expected}, got ${describe(left)} and ${describe(right)}`, false, {
    operator,
    left,
    right,
  });
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
