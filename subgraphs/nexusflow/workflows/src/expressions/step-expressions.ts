import { compileExpression, describeExpressionProblem, ExpressionError, type Expression, type ExpressionProblem } from '@nexusflow/kit';
import { StepError } from '../steps/types.ts';

/**
 * JSONata as the workflow steps use it: compiled when a workflow is saved (a syntax error is refused there, with its
 * position), compiled again from a bounded cache when a step runs, and evaluated within the kit's sandbox limits.
 */

/** What is wrong with an expression's text, for whoever edits the workflow; `offset` shifts positions into the field's text. */
export function expressionProblem(source: string, offset = 0): string | undefined {
  const compiled = compileExpression(source);
  if (compiled.ok) return undefined;
  return `is not a valid JSONata expression: ${describeExpressionProblem(shifted(compiled.problem, offset))}`;
}

function shifted(problem: ExpressionProblem, offset: number): ExpressionProblem {
  return problem.position === null ? problem : { ...problem, position: problem.position + offset };
}

/** Expressions compiled once per text: a workflow runs the same few many times. */
const compiledExpressions = new Map<string, Expression>();
const COMPILED_EXPRESSIONS_KEPT = 1000;

function compiled(source: string, field: string): Expression {
  const cached = compiledExpressions.get(source);
  if (cached) return cached;
  const result = compileExpression(source);
  // Saved definitions were compiled when saved, so this only happens to one saved before its field took expressions.
  if (!result.ok) {
    throw new StepError(`${field} is not a valid JSONata expression: ${describeExpressionProblem(result.problem)}`, false, { field });
  }
  if (compiledExpressions.size >= COMPILED_EXPRESSIONS_KEPT) compiledExpressions.delete(compiledExpressions.keys().next().value!);
  compiledExpressions.set(source, result.expression);
  return result.expression;
}

/**
 * The value of `source` over `data`, as JSON: JSONata's sequences and null-prototype objects become plain arrays and
 * objects, and "no value" (a path that matched nothing, a function) becomes `undefined`.
 * @throws StepError naming `field`, when the expression fails or runs into a limit
 */
export async function evaluateExpression(source: string, data: unknown, field: string): Promise<unknown> {
  const value = await failingTheStep(field, compiled(source, field).evaluate(data));
  const json = JSON.stringify(value);
  return json === undefined ? undefined : (JSON.parse(json) as unknown);
}

/**
 * Whether `source` holds over `data`, by JSONata's rules of truth (`$boolean`): "", 0, [] and no value do not.
 * @throws StepError naming `field`, when the expression fails or runs into a limit
 */
export async function expressionHolds(source: string, data: unknown, field: string): Promise<boolean> {
  return failingTheStep(field, compiled(source, field).test(data));
}

/** An evaluation that fails fails the step for good: the same expression over the same data fails the same way. */
async function failingTheStep<T>(field: string, evaluation: Promise<T>): Promise<T> {
  try {
    return await evaluation;
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    const where = error.position === null ? '' : ` (at character ${error.position})`;
    throw new StepError(`${field}: the expression failed: ${error.message}${where}`, false, {
      field,
      reason: error.kind,
      ...(error.code === undefined ? {} : { code: error.code }),
    });
  }
}
