import type { VariableDefinitions } from '@apollo/federation-internals';
import type { ConditionNode, PlanNode } from '@apollo/query-planner';
import { ErrorCode } from '@nexusflow/kit/core';
import { GraphQLError } from 'graphql';
import { nodesIn } from './plan-fetches.ts';

type Variables = Record<string, unknown> | undefined;

/** A condition's variable as the request gives it, else its default; undefined when it has neither. */
function conditionValue(name: string, variableDefinitions: VariableDefinitions, variables: Variables): unknown {
  const given = variables && Object.prototype.hasOwnProperty.call(variables, name) ? variables[name] : undefined;
  return given === undefined ? variableDefinitions.definition(name)?.defaultValue : given;
}

/**
 * Whether a plan's condition holds, as graphql-js decides the `if` of the directive it comes from: the variable's
 * value, else its default, else the argument's own default. Only @defer's `if` has one (`true`), and only there may a
 * variable be missing: validation gives @skip and @include variables that are non-null or defaulted. A null value is
 * refused before execution ({@link nullConditionError}); the planner's own evaluation asserts on both.
 */
export function conditionHolds(node: ConditionNode, variableDefinitions: VariableDefinitions, variables: Variables): boolean {
  const value = conditionValue(node.condition, variableDefinitions, variables);
  return value === undefined || value === true;
}

const conditionVariablesOfPlan = new WeakMap<PlanNode, string[]>();

/** The variables a plan's conditions read, found once per cached plan. */
function conditionVariablesOf(root: PlanNode): string[] {
  let names = conditionVariablesOfPlan.get(root);
  if (!names) {
    const conditions = (nodesIn(root) ?? []).flatMap((node) => (node.kind === 'Condition' ? [node.condition] : []));
    conditionVariablesOfPlan.set(root, (names = [...new Set(conditions)]));
  }
  return names;
}

/**
 * The request's fault, before anything runs, when a condition's variable is null: `@defer(if: $var)` with a nullable
 * `$var` passes validation (the argument has a default), but its `if` is a non-null Boolean, as graphql-js coerces it.
 */
export function nullConditionError(
  root: PlanNode | undefined,
  variableDefinitions: VariableDefinitions,
  variables: Variables,
): GraphQLError | undefined {
  if (!root) return undefined;
  const nulls = conditionVariablesOf(root).filter((name) => conditionValue(name, variableDefinitions, variables) === null);
  if (nulls.length === 0) return undefined;
  return new GraphQLError(
    `${nulls.map((name) => `Variable "$${name}"`).join(', ')} cannot be null: a directive's argument "if" is a non-null Boolean`,
    { extensions: { code: ErrorCode.BadUserInput, http: { status: 400 } } },
  );
}
