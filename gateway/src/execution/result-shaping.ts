import {
  assert,
  ERRORS,
  isCompositeType,
  isCustomScalarType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  isSubtype,
  typenameFieldName,
  Variable,
  type CompositeType,
  type Directive,
  type EnumType,
  type FieldSelection,
  type NamedType,
  type Operation,
  type Schema,
  type SelectionSet,
  type Type,
} from '@apollo/federation-internals';
import type { GraphQLError } from 'graphql';
import { emptyRecord } from './response-record.ts';

/**
 * A port of `computeResponse` from @apollo/gateway 2.14.4 (dist/resultShaping.js) that gives the same
 * `data` (same keys in the same order, same nulls) and the same `errors`, and throws the same assertion
 * errors, for the same inputs. Stock re-reads the federation-internals operation for every value it shapes
 * (directive lookups, response names, type unwrapping, `isSubtype`) and allocates a result record per value;
 * here each `SelectionSet` is compiled once into plain records, and values come back without a wrapper.
 *
 * The compiled form is cached by `SelectionSet` object: compiling costs a fraction of one stock pass, and
 * nothing at all when the caller reuses the `Operation` across requests (stock's `executeQueryPlan` converts
 * the document again on every request, so it would compile every time).
 */

type Data = Record<string, any>;
type Path = (string | number)[];

interface Parameters {
  schema: Schema;
  variables: Record<string, unknown>;
  errors: GraphQLError[];
  introspectionHandling: (introspectionSelection: FieldSelection) => any;
}

export function computeResponse({
  operation,
  variables,
  input,
  introspectionHandling,
}: {
  operation: Operation;
  variables?: Record<string, any>;
  input: Record<string, any> | null | undefined;
  introspectionHandling: (introspectionSelection: FieldSelection) => any;
}): {
  data: Record<string, any> | null | undefined;
  errors: GraphQLError[];
} {
  if (!input) {
    return { data: input, errors: [] };
  }
  const schema = operation.schema();
  const parameters: Parameters = {
    schema,
    // Built exactly as stock does: a variable passed as `undefined` hides its default, and fails the @skip/@include check.
    variables: { __proto__: null, ...operation.collectDefaultedVariableValues(), ...variables },
    errors: [],
    introspectionHandling,
  };
  const data: Data = emptyRecord();
  const bubbled = applySelectionSet(
    input,
    compiledSelectionSet(operation.selectionSet, schema),
    data,
    parameters,
    [],
    schema.schemaDefinition.rootType(operation.rootKind) as CompositeType,
  );
  return { data: bubbled ? null : data, errors: parameters.errors };
}

// ---------------------------------------------------------------------------------------------------------
// Compiled form

const FIELD = 0;
const TYPENAME = 1;
const INTROSPECTION = 2;
const FRAGMENT = 3;

const NON_NULL = 0;
const LIST = 1;
const COMPOSITE = 2;
const LEAF = 3;

/** The `if` of one @skip or @include: a literal, or a variable read per request. */
class Condition {
  constructor(
    readonly literal: unknown,
    readonly variable: Variable | undefined,
    readonly directive: Directive<any>,
  ) {}
}

/**
 * A field's type unwrapped once: stock walks `isNonNullType`/`isListType`/`isCompositeType` and compares the
 * leaf against the schema's built-in scalars for every value. `type` stays for error messages.
 */
class TypeShape {
  readonly kind: number;
  readonly ofType: TypeShape | undefined;
  readonly customScalar: boolean;
  readonly booleanType: boolean;
  readonly intType: boolean;
  readonly idType: boolean;
  readonly floatType: boolean;
  readonly enumType: EnumType | undefined;

  constructor(
    readonly type: Type,
    schema: Schema,
  ) {
    this.ofType = undefined;
    this.customScalar = false;
    this.booleanType = false;
    this.intType = false;
    this.idType = false;
    this.floatType = false;
    this.enumType = undefined;
    if (isNonNullType(type)) {
      this.kind = NON_NULL;
      this.ofType = typeShape(type.ofType, schema);
    } else if (isListType(type)) {
      this.kind = LIST;
      this.ofType = typeShape(type.ofType, schema);
    } else if (isCompositeType(type)) {
      this.kind = COMPOSITE;
    } else {
      this.kind = LEAF;
      // The same identity tests as federation-internals' `isValidLeafValue`, made once.
      this.customScalar = isCustomScalarType(type);
      this.booleanType = type === schema.booleanType();
      this.intType = type === schema.intType();
      this.idType = type === schema.idType();
      this.floatType = type === schema.floatType();
      this.enumType = isEnumType(type) ? type : undefined;
    }
  }
}

class FieldPlan {
  readonly kind: typeof FIELD | typeof TYPENAME | typeof INTROSPECTION;
  /** Aliased `__typename` falls back to the input's own `__typename`. */
  readonly aliasedTypename: boolean;
  readonly shape: TypeShape | undefined;
  readonly hasSelectionSet: boolean;
  private compiled: CompiledSelectionSet | undefined;

  constructor(
    readonly selection: FieldSelection,
    readonly responseName: string,
    readonly skip: Condition | undefined,
    readonly include: Condition | undefined,
    schema: Schema,
  ) {
    const field = selection.element;
    this.kind = field.definition.isSchemaIntrospectionField() ? INTROSPECTION : field.name === typenameFieldName ? TYPENAME : FIELD;
    this.aliasedTypename = responseName !== typenameFieldName;
    this.shape = this.kind === FIELD ? typeShape(field.definition.type!, schema) : undefined;
    this.hasSelectionSet = !!selection.selectionSet;
    this.compiled = undefined;
  }

  subSelections(schema: Schema): CompiledSelectionSet {
    // Compiled on first use, not with the parent: a deep operation mostly reaches few of its branches at first.
    return (this.compiled ??= compiledSelectionSet(this.selection.selectionSet!, schema));
  }
}

class FragmentPlan {
  readonly kind = FRAGMENT;
  /** `isSubtype(typeCondition, schema.type(__typename))` by `__typename`; only names of existing types are kept, so it stays bounded. */
  readonly appliesToTypename = new Map<string, boolean>();
  /** `isSubtype(typeCondition, parentType)` for inputs without `__typename`. */
  readonly appliesToParent = new Map<NamedType, boolean>();
  private compiled: CompiledSelectionSet | undefined;

  constructor(
    readonly typeCondition: CompositeType | undefined,
    readonly selectionSet: SelectionSet,
    readonly skip: Condition | undefined,
    readonly include: Condition | undefined,
  ) {
    this.compiled = undefined;
  }

  subSelections(schema: Schema): CompiledSelectionSet {
    return (this.compiled ??= compiledSelectionSet(this.selectionSet, schema));
  }
}

type Plan = FieldPlan | FragmentPlan;
type CompiledSelectionSet = readonly Plan[];

const compiledSets = new WeakMap<SelectionSet, CompiledSelectionSet>();
const shapes = new WeakMap<Type, TypeShape>();

function typeShape(type: Type, schema: Schema): TypeShape {
  let shape = shapes.get(type);
  if (!shape) {
    shape = new TypeShape(type, schema);
    shapes.set(type, shape);
  }
  return shape;
}

function condition(directive: Directive<any> | undefined): Condition | undefined {
  if (!directive) return undefined;
  const ifArg: unknown = directive.arguments().if;
  return ifArg instanceof Variable ? new Condition(undefined, ifArg, directive) : new Condition(ifArg, undefined, directive);
}

function compiledSelectionSet(selectionSet: SelectionSet, schema: Schema): CompiledSelectionSet {
  let compiled = compiledSets.get(selectionSet);
  if (compiled) return compiled;
  const skipDirective = schema.skipDirective();
  const includeDirective = schema.includeDirective();
  const plans: Plan[] = [];
  for (const selection of selectionSet.selections()) {
    // Only the first of each counts, as in stock.
    const skip = condition(selection.element.appliedDirectivesOf(skipDirective)[0]);
    const include = condition(selection.element.appliedDirectivesOf(includeDirective)[0]);
    if (selection.kind === 'FieldSelection') {
      plans.push(new FieldPlan(selection, selection.element.responseName(), skip, include, schema));
    } else {
      plans.push(new FragmentPlan(selection.element.typeCondition, selection.selectionSet, skip, include));
    }
  }
  compiled = plans;
  compiledSets.set(selectionSet, compiled);
  return compiled;
}

// ---------------------------------------------------------------------------------------------------------
// Shaping

/**
 * What stock returns next to `updated` from `updateOutputValue`, as out-parameters: set by `updateOutputValue`
 * just before it returns and read by its caller right after, so nothing between can overwrite them.
 */
let isInvalid = false;
let hasErrors = false;

const hasOwnProperty = Object.prototype.hasOwnProperty;

function ifValue(condition: Condition, variables: Record<string, unknown>): unknown {
  const ifArg = condition.variable;
  if (ifArg === undefined) return condition.literal;
  const value = variables[ifArg.name];
  if (value === undefined || typeof value !== 'boolean') {
    assert(false, () => `Unexpected value ${value} for variable ${ifArg} of ${condition.directive}`);
  }
  return value;
}

function shouldSkip(plan: Plan, variables: Record<string, unknown>): boolean {
  // Same order as stock: a true @skip means @include is never read (nor its variable checked).
  if (plan.skip !== undefined && ifValue(plan.skip, variables)) return true;
  return plan.include !== undefined && !ifValue(plan.include, variables);
}

/** Returns true where stock returns `ApplyResult.NULL_BUBBLE_UP`. */
function applySelectionSet(
  input: Data,
  selections: CompiledSelectionSet,
  output: Data,
  parameters: Parameters,
  path: Path,
  parentType: NamedType,
): boolean {
  for (let i = 0; i < selections.length; i++) {
    const plan = selections[i]!;
    if ((plan.skip !== undefined || plan.include !== undefined) && shouldSkip(plan, parameters.variables)) {
      continue;
    }
    if (plan.kind !== FRAGMENT) {
      const responseName = plan.responseName;
      const outputValue = output[responseName];
      if (plan.kind === INTROSPECTION) {
        if (outputValue === undefined) {
          output[responseName] = parameters.introspectionHandling(plan.selection);
        }
        continue;
      }
      let inputValue = hasOwnProperty.call(input, responseName) ? input[responseName] : undefined;
      if (inputValue === undefined) inputValue = null;
      if (plan.kind === TYPENAME) {
        if (outputValue === undefined) {
          if (inputValue === null && plan.aliasedTypename) {
            inputValue = input[typenameFieldName] ?? null;
          }
          const type =
            inputValue !== null && typeof inputValue === 'string' ? (parameters.schema.type(inputValue) ?? parentType) : parentType;
          if (!isObjectType(type)) {
            return true;
          }
          output[responseName] = type.name;
        }
        continue;
      }
      path.push(responseName);
      output[responseName] = updateOutputValue(outputValue, plan.shape!, inputValue, plan, path, parameters, parentType);
      path.pop();
      if (isInvalid) {
        return true;
      }
    } else {
      const typename = input[typenameFieldName];
      if (typename && typeof typename !== 'string') {
        assert(false, () => `Got unexpected value for __typename: ${typename}`);
      }
      if (typeConditionApplies(plan, parameters.schema, typename as string | undefined, parentType)) {
        if (applySelectionSet(input, plan.subSelections(parameters.schema), output, parameters, path, plan.typeCondition ?? parentType)) {
          return true;
        }
      }
    }
  }
  return false;
}

function typeConditionApplies(plan: FragmentPlan, schema: Schema, typename: string | undefined, parentType: NamedType): boolean {
  const typeCondition = plan.typeCondition;
  if (!typeCondition) {
    return true;
  }
  if (typename) {
    let applies = plan.appliesToTypename.get(typename);
    if (applies === undefined) {
      const type = schema.type(typename);
      if (!type) return false;
      applies = isSubtype(typeCondition, type);
      plan.appliesToTypename.set(typename, applies);
    }
    return applies;
  }
  let applies = plan.appliesToParent.get(parentType);
  if (applies === undefined) {
    applies = isSubtype(typeCondition, parentType);
    plan.appliesToParent.set(parentType, applies);
  }
  return applies;
}

function pathLastElementDescription(path: Path, currentType: Type, parentType: NamedType): string {
  const element = path[path.length - 1];
  assert(element !== undefined, 'Should not have been called on an empty path');
  return typeof element === 'string' ? `field ${parentType}.${element}` : `array element of type ${currentType} at index ${element}`;
}

function pushError(parameters: Parameters, message: string, path: Path): void {
  parameters.errors.push(ERRORS.INVALID_GRAPHQL.err(message, { path: Array.from(path) }));
}

/** Stock's `updateOutputValue`, returning `updated` and leaving `isInvalid`/`hasErrors` in the module variables. */
function updateOutputValue(
  outputValue: any,
  shape: TypeShape,
  inputValue: any,
  field: FieldPlan,
  path: Path,
  parameters: Parameters,
  parentType: NamedType,
): any {
  if (inputValue === undefined) {
    assert(false, 'Should not pass undefined for `inputValue` to this method');
  }
  if (outputValue === null || (outputValue !== undefined && !field.hasSelectionSet)) {
    isInvalid = false;
    hasErrors = false;
    return outputValue;
  }
  const kind = shape.kind;
  if (kind === NON_NULL) {
    const ofType = shape.ofType!;
    // Leaves are most values: validate them here rather than one call deeper.
    const updated =
      ofType.kind === LEAF && outputValue === undefined && inputValue !== null
        ? leafValue(ofType, inputValue, path, parameters, parentType)
        : updateOutputValue(outputValue, ofType, inputValue, field, path, parameters, parentType);
    if (updated === null) {
      if (!hasErrors) {
        pushError(parameters, `Cannot return null for non-nullable ${pathLastElementDescription(path, ofType.type, parentType)}.`, path);
      }
      isInvalid = true;
      hasErrors = true;
      return null;
    }
    isInvalid = false;
    hasErrors = false;
    return updated;
  }
  if (inputValue === null) {
    isInvalid = false;
    hasErrors = false;
    return null;
  }
  if (kind === LIST) {
    const type = shape.type;
    if (!Array.isArray(inputValue)) {
      assert(false, () => `Invalid non-list value ${inputValue} returned by subgraph for list type ${type}`);
    }
    if (outputValue !== undefined && !Array.isArray(outputValue)) {
      assert(false, () => `Invalid non-list value ${outputValue} returned by subgraph for list type ${type}`);
    }
    const length = inputValue.length;
    if (outputValue !== undefined && outputValue.length !== length) {
      assert(false, () => `[${inputValue}].length (${inputValue.length}) !== [${outputValue}].length (${outputValue.length})`);
    }
    const ofType = shape.ofType!;
    const updated: unknown[] = new Array(length);
    let shouldNullify = false;
    let anyErrors = false;
    for (let idx = 0; idx < length; idx++) {
      path.push(idx);
      updated[idx] = updateOutputValue(
        outputValue === undefined ? undefined : outputValue[idx],
        ofType,
        inputValue[idx],
        field,
        path,
        parameters,
        parentType,
      );
      path.pop();
      shouldNullify ||= isInvalid;
      anyErrors ||= hasErrors;
    }
    isInvalid = false;
    hasErrors = anyErrors;
    return shouldNullify ? null : updated;
  }
  if (kind === COMPOSITE) {
    const type = shape.type;
    if (!field.hasSelectionSet) {
      assert(false, () => `Invalid empty selection set for composite type ${type}`);
    }
    if (typeof inputValue !== 'object') {
      assert(false, () => `Invalid non-object value ${inputValue} returned by subgraph for composite type ${type}`);
    }
    if (outputValue !== undefined && typeof outputValue !== 'object') {
      assert(false, () => `Invalid non-object value ${inputValue} returned by subgraph for composite type ${type}`);
    }
    const inputTypename = inputValue[typenameFieldName];
    if (inputTypename !== undefined && typeof inputTypename !== 'string') {
      assert(false, () => `Invalid non-string value ${inputTypename} for __typename at ${path}`);
    }
    let objType = type as NamedType;
    if (inputTypename) {
      const typenameType = parameters.schema.type(inputTypename);
      if (!typenameType || !isCompositeType(typenameType)) {
        pushError(parameters, `Invalid __typename found for object at ${pathLastElementDescription(path, type, parentType)}.`, path);
        isInvalid = false;
        hasErrors = true;
        return null;
      }
      objType = typenameType;
    }
    const outputValueObject: Data = outputValue === undefined ? emptyRecord() : outputValue;
    const bubbled = applySelectionSet(inputValue, field.subSelections(parameters.schema), outputValueObject, parameters, path, objType);
    isInvalid = false;
    hasErrors = bubbled;
    return bubbled ? null : outputValueObject;
  }
  if (outputValue !== undefined) {
    assert(false, () => `Excepted output to be undefined but got ${shape.type} for type ${shape.type}`);
  }
  return leafValue(shape, inputValue, path, parameters, parentType);
}

/** The leaf branch of `updateOutputValue`, for a non-null input and no earlier output. */
function leafValue(shape: TypeShape, inputValue: unknown, path: Path, parameters: Parameters, parentType: NamedType): unknown {
  if (isValidLeafValue(shape, inputValue)) {
    isInvalid = false;
    hasErrors = false;
    return inputValue;
  }
  pushError(parameters, `Invalid value found for ${pathLastElementDescription(path, shape.type, parentType)}.`, path);
  isInvalid = false;
  hasErrors = true;
  return null;
}

/** federation-internals' `isValidLeafValue`, with the type tests precomputed in the shape. */
function isValidLeafValue(shape: TypeShape, value: unknown): boolean {
  if (shape.customScalar) {
    return true;
  }
  switch (typeof value) {
    case 'boolean':
      return shape.booleanType;
    case 'number':
      if (!isFinite(value)) return false;
      // Stock tests String(value) against /^-?(?:0|[1-9][0-9]*)$/: integers print that way exactly below 1e21 in magnitude.
      if (shape.intType || shape.idType) return Number.isInteger(value) && value < 1e21 && value > -1e21;
      return shape.floatType;
    case 'string':
      if (shape.enumType) return shape.enumType.value(value) !== undefined;
      return !shape.booleanType && !shape.intType && !shape.floatType;
    default:
      return false;
  }
}
