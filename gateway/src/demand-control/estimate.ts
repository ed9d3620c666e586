import { Kind, valueFromASTUntyped, type DirectiveNode, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import { compileArgumentsCost, type VariableValues } from './input-cost.ts';
import type { ListSizeRule, OutputFieldCost, SchemaCosts } from './schema-costs.ts';

/** Every root field of a mutation adds this much before its own cost (Apollo's and the IBM spec's mutation weight). */
export const MUTATION_FIELD_COST = 10;

/** State of one estimate: its variables, and the fragments already scored in it. */
export interface EstimateRun {
  variables: VariableValues;
  fragmentCosts: Map<string, number>;
}

/** A list size handed down by a field's `@listSize(sizedFields:)` to the lists it names in its selection. */
interface Upstream {
  size: number;
  fields: ReadonlySet<string>;
  /** Tells apart fragment results scored under different sizes. */
  key: string;
}

type SelectionEstimate = (run: EstimateRun, upstream: Upstream | undefined) => number;

interface CompiledSelectionSet {
  estimate: SelectionEstimate;
  /** Fields selected directly, through fragments too: the only ones an upstream size can reach. */
  fieldNames: ReadonlySet<string>;
}

type Condition = (variables: VariableValues) => boolean;
const NEVER = Symbol('never included');

function conditionValue(directive: DirectiveNode): boolean | string | undefined {
  const value = directive.arguments?.find((argument) => argument.name.value === 'if')?.value;
  if (value?.kind === Kind.BOOLEAN) return value.value;
  if (value?.kind === Kind.VARIABLE) return value.name.value;
  return undefined;
}

/** `@skip`/`@include` as a test of the variables; undefined when always included, NEVER when never. */
function inclusionOf(directives: readonly DirectiveNode[] | undefined): Condition | undefined | typeof NEVER {
  const tests: Condition[] = [];
  for (const directive of directives ?? []) {
    const skip = directive.name.value === 'skip';
    if (!skip && directive.name.value !== 'include') continue;
    const value = conditionValue(directive);
    if (typeof value === 'boolean') {
      if (value === skip) return NEVER;
    } else if (value !== undefined) {
      // Only an explicit boolean leaves a selection out; validation makes anything else impossible.
      tests.push(skip ? (variables) => variables[value] !== true : (variables) => variables[value] !== false);
    }
  }
  if (tests.length === 0) return undefined;
  return (variables) => tests.every((test) => test(variables));
}

function sizeOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.max(0, Math.trunc(value));
  if (Array.isArray(value)) return value.length;
  return undefined;
}

/**
 * The size `@listSize` gives one occurrence of a field: the largest slicing argument it was given (a
 * literal, a variable, or the argument's default; a list argument counts its items), else `assumedSize`.
 */
function expectedSizeOf(node: FieldNode, field: OutputFieldCost, rule: ListSizeRule): (variables: VariableValues) => number | undefined {
  if (rule.slicingArguments.length === 0) return () => rule.assumedSize;
  const slices = rule.slicingArguments.map(([argumentName = '', ...path]) => ({
    value: node.arguments?.find((argument) => argument.name.value === argumentName)?.value,
    defaultValue: field.arguments.get(argumentName)?.defaultValue,
    path,
  }));
  return (variables) => {
    let largest: number | undefined;
    for (const { value, defaultValue, path } of slices) {
      let resolved = value ? valueFromASTUntyped(value, variables) : undefined;
      if (resolved === null || resolved === undefined) resolved = defaultValue;
      for (const segment of path)
        resolved = resolved !== null && typeof resolved === 'object' ? (resolved as Record<string, unknown>)[segment] : undefined;
      const size = sizeOf(resolved);
      if (size !== undefined && (largest === undefined || size > largest)) largest = size;
    }
    return largest ?? rule.assumedSize;
  };
}

function overlaps(names: ReadonlySet<string>, fields: ReadonlySet<string>): boolean {
  for (const name of fields) if (names.has(name)) return true;
  return false;
}

const free: CompiledSelectionSet = { estimate: () => 0, fieldNames: new Set() };

/**
 * Compiles an operation's selections into a function of its variables, once per operation. Each
 * selection set is compiled once (fragments by name), so compiling is linear in the document; each
 * named fragment is scored once per estimate however often it is spread, so estimating is too.
 */
export class EstimateCompiler {
  private readonly selectionSets = new Map<SelectionSetNode, CompiledSelectionSet>();
  private readonly compiledFragments = new Map<string, CompiledSelectionSet>();

  constructor(
    private readonly costs: SchemaCosts,
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  ) {}

  /** The cost of a selection set on `typeName`, with nothing sized from above. */
  compileRoot(selectionSet: SelectionSetNode, typeName: string | undefined): (run: EstimateRun) => number {
    if (!typeName) return () => 0;
    const { estimate } = this.compileSelectionSet(selectionSet, typeName);
    return (run) => estimate(run, undefined);
  }

  private compileSelectionSet(selectionSet: SelectionSetNode, typeName: string): CompiledSelectionSet {
    const existing = this.selectionSets.get(selectionSet);
    if (existing) return existing;
    // A placeholder first: a document that (invalidly) nests a selection set in itself then ends here.
    this.selectionSets.set(selectionSet, free);

    const possibleTypes = this.costs.possibleTypes(typeName);
    const always: SelectionEstimate[] = [];
    const branches: { estimate: SelectionEstimate; types: ReadonlySet<string> }[] = [];
    const fieldNames = new Set<string>();

    /** A fragment adds to every possible type it covers; on an abstract type, only some may be covered. */
    const addFragment = (compiled: CompiledSelectionSet, condition: string, directives: readonly DirectiveNode[] | undefined) => {
      const inclusion = inclusionOf(directives);
      if (inclusion === NEVER) return;
      for (const name of compiled.fieldNames) fieldNames.add(name);
      const estimate: SelectionEstimate = inclusion
        ? (run, upstream) => (inclusion(run.variables) ? compiled.estimate(run, upstream) : 0)
        : compiled.estimate;
      const covered = this.costs.possibleTypes(condition);
      const types = [...possibleTypes].filter((type) => covered.has(type));
      if (types.length === possibleTypes.size) always.push(estimate);
      else if (types.length > 0) branches.push({ estimate, types: new Set(types) });
    };

    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        fieldNames.add(selection.name.value);
        const estimate = this.compileField(selection, typeName);
        if (estimate) always.push(estimate);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition?.name.value ?? typeName;
        addFragment(this.compileSelectionSet(selection.selectionSet, condition), condition, selection.directives);
      } else {
        const fragment = this.fragments.get(selection.name.value);
        if (fragment) addFragment(this.compileFragment(fragment), fragment.typeCondition.name.value, selection.directives);
      }
    }

    const compiled: CompiledSelectionSet = { estimate: combine(always, branches, possibleTypes), fieldNames };
    this.selectionSets.set(selectionSet, compiled);
    return compiled;
  }

  /** A named fragment, scored once per estimate (and per list size handed down to it, when it uses one). */
  private compileFragment(fragment: FragmentDefinitionNode): CompiledSelectionSet {
    const name = fragment.name.value;
    const existing = this.compiledFragments.get(name);
    if (existing) return existing;
    this.compiledFragments.set(name, free);
    const inner = this.compileSelectionSet(fragment.selectionSet, fragment.typeCondition.name.value);
    const compiled: CompiledSelectionSet = {
      fieldNames: inner.fieldNames,
      estimate: (run, upstream) => {
        const sized = upstream !== undefined && overlaps(inner.fieldNames, upstream.fields);
        const key = sized ? `${name}\u0000${upstream.key}` : name;
        const known = run.fragmentCosts.get(key);
        if (known !== undefined) return known;
        const cost = inner.estimate(run, sized ? upstream : undefined);
        run.fragmentCosts.set(key, cost);
        return cost;
      },
    };
    this.compiledFragments.set(name, compiled);
    return compiled;
  }

  private compileField(node: FieldNode, parentType: string): SelectionEstimate | undefined {
    const name = node.name.value;
    // Introspection (__typename, __schema, __type) is answered by the gateway itself.
    if (name.startsWith('__')) return undefined;
    const field = this.costs.outputField(parentType, name);
    if (!field) return undefined;
    const inclusion = inclusionOf(node.directives);
    if (inclusion === NEVER) return undefined;

    const selections = node.selectionSet && this.compileSelectionSet(node.selectionSet, field.typeName);
    const argumentsCost = compileArgumentsCost(node.arguments, field, this.costs);
    const expectedSize = field.listSize && expectedSizeOf(node, field, field.listSize);
    const sizedFields = field.listSize && field.listSize.sizedFields.size > 0 ? field.listSize.sizedFields : undefined;
    const ownCost = field.weight ?? (field.isComposite ? 1 : 0);
    const rootCost = parentType === this.costs.mutationType ? MUTATION_FIELD_COST : 0;
    const { defaultListSize } = this.costs;

    return (run, upstream) => {
      const { variables } = run;
      if (inclusion && !inclusion(variables)) return 0;
      const size = expectedSize?.(variables);
      const handedDown = upstream !== undefined && upstream.fields.has(name) ? upstream.size : undefined;
      const count = field.isList ? (handedDown ?? size ?? defaultListSize) : 1;
      const sizing = sizedFields && size !== undefined ? { size, fields: sizedFields, key: `${field.coordinate}=${size}` } : undefined;
      const selectionCost = selections ? selections.estimate(run, sizing) : 0;
      return count * (ownCost + selectionCost) + argumentsCost(variables) + rootCost;
    };
  }
}

/**
 * Selections that apply whatever the runtime type are summed; fragments that apply to some of an
 * abstract type's members only are summed per member, and the dearest member counts (IBM spec).
 */
function combine(
  always: readonly SelectionEstimate[],
  branches: readonly { estimate: SelectionEstimate; types: ReadonlySet<string> }[],
  possibleTypes: ReadonlySet<string>,
): SelectionEstimate {
  const sumAlways = (run: EstimateRun, upstream: Upstream | undefined) => {
    let total = 0;
    for (const estimate of always) total += estimate(run, upstream);
    return total;
  };
  if (branches.length === 0) return sumAlways;

  const groups = new Map<string, number[]>();
  for (const type of possibleTypes) {
    const members = branches.flatMap((branch, index) => (branch.types.has(type) ? [index] : []));
    groups.set(members.join(','), members);
  }
  const memberGroups = [...groups.values()];
  return (run, upstream) => {
    const branchCosts = branches.map((branch) => branch.estimate(run, upstream));
    let dearest = 0;
    for (const members of memberGroups) {
      let total = 0;
      for (const index of members) total += branchCosts[index]!;
      if (total > dearest) dearest = total;
    }
    return sumAlways(run, upstream) + dearest;
  };
}
