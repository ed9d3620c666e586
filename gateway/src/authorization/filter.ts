import {
  getDirectiveValues,
  getNamedType,
  getOperationAST,
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isCompositeType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  Kind,
  valueFromASTUntyped,
  type ASTNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import { ErrorCode } from '@nexusflow/kit/core';
import type { AccessRule, AuthorizationRules } from './rules.ts';

/** What the caller of one request holds, against which every rule of its operation is judged. */
export interface Grants {
  authenticated: boolean;
  scopes: ReadonlySet<string>;
  /** Whether the named policy allows this request. */
  policy(name: string): boolean;
}

type Refusal = ErrorCode.Unauthenticated | ErrorCode.Forbidden;

/**
 * What an operation becomes once authorized:
 * - `allowed`: it selects nothing the caller may not see, and runs untouched;
 * - `filtered`: what the caller may not see is removed (`document`), and each removal is an error at its path;
 * - `refused`: nothing is left to run, so no subgraph is called; `data` is the root fields' nulls (null when one of
 *   them is non-null), as the response of the whole operation would have them.
 */
export type AuthorizationOutcome =
  | { kind: 'allowed' }
  | { kind: 'filtered'; document: DocumentNode; errors: GraphQLError[]; removedPaths: string[][] }
  | { kind: 'refused'; data: Record<string, null> | null; errors: GraphQLError[] };

/** An alternative of `@requiresScopes` or `@policy` holds when everything in it does. */
const anyHolds = (alternatives: readonly (readonly string[])[], holds: (name: string) => boolean) =>
  alternatives.some((all) => all.every(holds));

/** Why `grants` do not satisfy `rule`, or undefined when they do. Anonymous callers are asked to sign in first. */
export function refusalOf(rule: AccessRule | undefined, grants: Grants): { code: Refusal; message: string } | undefined {
  if (!rule) return undefined;
  const missingScopes = rule.scopes.filter((alternatives) => !anyHolds(alternatives, (scope) => grants.scopes.has(scope)));
  const missingPolicies = rule.policies.filter((alternatives) => !anyHolds(alternatives, (policy) => grants.policy(policy)));
  if ((!rule.authenticated || grants.authenticated) && missingScopes.length === 0 && missingPolicies.length === 0) return undefined;
  if (!grants.authenticated) return { code: ErrorCode.Unauthenticated, message: `Authentication required to use ${rule.coordinate}` };
  const describe = (noun: string, entries: typeof missingScopes) =>
    entries.map((alternatives) => `${noun} ${alternatives.map((all) => all.join(' and ')).join(' or ')}`);
  const requirements = [...describe('scope', missingScopes), ...describe('policy', missingPolicies)].join(', and ');
  return { code: ErrorCode.Forbidden, message: `Not allowed to use ${rule.coordinate}: it requires ${requirements}` };
}

interface Removal {
  /** Response keys from where the selection set being filtered is. */
  path: string[];
  code: Refusal;
  message: string;
  node: ASTNode;
}

interface FilteredSelectionSet {
  /** Undefined when nothing is left of it. */
  selectionSet: SelectionSetNode | undefined;
  changed: boolean;
  removals: Removal[];
}

/** How a walk judges: the refusal of a rule, if any, and whether a selection runs at all with the request's variables. */
interface Judge {
  refuse(rule: AccessRule | undefined): { code: Refusal; message: string } | undefined;
  runs(selection: SelectionNode): boolean;
}

/**
 * One walk over an operation: every selection judged, what is refused removed, and the removals kept with their
 * paths relative to the selection set they were met in. A named fragment's selections have one type whatever spreads
 * them, so each is filtered once, and its removals are reported at every place it is spread.
 */
class OperationWalk {
  private readonly filteredFragments = new Map<string, FilteredSelectionSet>();

  constructor(
    private readonly rules: AuthorizationRules,
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
    private readonly judge: Judge,
  ) {}

  /** The fragments whose selections changed, by name, with what is left of them (undefined: nothing). */
  get changedFragments(): Map<string, SelectionSetNode | undefined> {
    return new Map([...this.filteredFragments].filter(([, filtered]) => filtered.changed).map(([name, f]) => [name, f.selectionSet]));
  }

  selectionSet(selectionSet: SelectionSetNode, parentType: GraphQLCompositeType): FilteredSelectionSet {
    const kept: SelectionNode[] = [];
    const removals: Removal[] = [];
    let changed = false;
    for (const selection of selectionSet.selections) {
      const result = this.selection(selection, parentType);
      removals.push(...result.removals);
      if (result.selection !== selection || result.fragmentChanged) changed = true;
      if (result.selection) kept.push(result.selection);
    }
    return {
      selectionSet: kept.length === 0 ? undefined : changed ? { ...selectionSet, selections: kept } : selectionSet,
      changed,
      removals,
    };
  }

  private selection(
    selection: SelectionNode,
    parentType: GraphQLCompositeType,
  ): { selection: SelectionNode | undefined; removals: Removal[]; fragmentChanged?: boolean } {
    switch (selection.kind) {
      case Kind.FIELD:
        return this.field(selection, parentType);
      case Kind.INLINE_FRAGMENT: {
        const typeCondition = selection.typeCondition && this.rules.schema.getType(selection.typeCondition.name.value);
        const type = typeCondition && isCompositeType(typeCondition) ? typeCondition : parentType;
        const result = this.fragment(selection, selection.typeCondition ? type : undefined, () =>
          this.selectionSet(selection.selectionSet, type),
        );
        return {
          selection:
            result.selectionSet === selection.selectionSet
              ? selection
              : result.selectionSet && { ...selection, selectionSet: result.selectionSet },
          removals: result.removals,
        };
      }
      case Kind.FRAGMENT_SPREAD: {
        const definition = this.fragments.get(selection.name.value);
        const typeCondition = definition && this.rules.schema.getType(definition.typeCondition.name.value);
        if (!definition || !typeCondition || !isCompositeType(typeCondition)) return { selection, removals: [] };
        const result = this.fragment(selection, typeCondition, () => this.fragmentDefinition(definition, typeCondition));
        // The spread stays a spread: what is left of the fragment is its definition's business.
        return { selection: result.selectionSet ? selection : undefined, removals: result.removals, fragmentChanged: result.changed };
      }
    }
  }

  private fragment(
    selection: SelectionNode,
    condition: GraphQLCompositeType | undefined,
    filter: () => FilteredSelectionSet,
  ): FilteredSelectionSet {
    // A fragment that does not run is left as it is: it selects nothing, whatever is in it.
    if (!this.judge.runs(selection)) return { selectionSet: selectionSetOf(selection, this.fragments), changed: false, removals: [] };
    const refused = condition && this.judge.refuse(this.rules.typeRule(condition));
    if (refused) return { selectionSet: undefined, changed: true, removals: [{ path: [], ...refused, node: selection }] };
    return filter();
  }

  private fragmentDefinition(definition: FragmentDefinitionNode, type: GraphQLCompositeType): FilteredSelectionSet {
    let filtered = this.filteredFragments.get(definition.name.value);
    if (!filtered) {
      filtered = this.selectionSet(definition.selectionSet, type);
      this.filteredFragments.set(definition.name.value, filtered);
    }
    return filtered;
  }

  private field(field: FieldNode, parentType: GraphQLCompositeType): { selection: FieldNode | undefined; removals: Removal[] } {
    const definition = fieldDefinition(parentType, field.name.value);
    if (!definition) return { selection: field, removals: [] };
    const refused = this.judge.refuse(this.rules.fieldRule(parentType, definition));
    if (!this.judge.runs(field)) return { selection: refused ? undefined : field, removals: [] };
    const key = (field.alias ?? field.name).value;
    if (refused) return { selection: undefined, removals: [{ path: [key], ...refused, node: field }] };
    if (!field.selectionSet) return { selection: field, removals: [] };
    const type = getNamedType(definition.type);
    if (!isCompositeType(type)) return { selection: field, removals: [] };
    const filtered = this.selectionSet(field.selectionSet, type);
    const removals = filtered.removals.map((removal) => ({ ...removal, path: [key, ...removal.path] }));
    // A field none of whose selections is left goes too; its selections' errors say why.
    if (!filtered.selectionSet) return { selection: undefined, removals };
    return { selection: filtered.changed ? { ...field, selectionSet: filtered.selectionSet } : field, removals };
  }
}

function fieldDefinition(parentType: GraphQLCompositeType, name: string): GraphQLField<unknown, unknown> | undefined {
  // Meta-fields (`__typename`, `__schema`, `__type`) carry no directive.
  if (name.startsWith('__')) return undefined;
  return isObjectType(parentType) || isInterfaceType(parentType) ? parentType.getFields()[name] : undefined;
}

function selectionSetOf(selection: SelectionNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>): SelectionSetNode | undefined {
  if (selection.kind === Kind.FRAGMENT_SPREAD) return fragments.get(selection.name.value)?.selectionSet;
  return selection.selectionSet;
}

/** Every variable of the operation as the executor will see it: the request's value, else the definition's default. */
function variableValues(operation: OperationDefinitionNode, variables: Record<string, unknown>): Record<string, unknown> {
  const values = Object.create(null) as Record<string, unknown>;
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (Object.hasOwn(variables, name)) values[name] = variables[name];
    else if (definition.defaultValue) values[name] = valueFromASTUntyped(definition.defaultValue);
  }
  return values;
}

/** Whether `@skip` and `@include` let a selection run; when their variables are unusable, it counts as running (and is judged). */
function runsWith(values: Record<string, unknown>): (selection: SelectionNode) => boolean {
  return (selection) => {
    if (!selection.directives?.length) return true;
    try {
      if (getDirectiveValues(GraphQLSkipDirective, selection, values)?.if === true) return false;
      if (getDirectiveValues(GraphQLIncludeDirective, selection, values)?.if === false) return false;
    } catch {
      // The executor refuses the variables; until then the selection is judged as if it ran.
    }
    return true;
  };
}

const requirementsByDocument = new WeakMap<AuthorizationRules, WeakMap<DocumentNode, Map<string, ReadonlySet<AccessRule>>>>();

/**
 * Every rule anything in the operation meets, whatever the variables: computed once per parsed document (Apollo Server
 * keeps parsed documents), so that a caller who satisfies them all costs a few set look-ups per request.
 */
function requirementsOf(rules: AuthorizationRules, document: DocumentNode, operation: OperationDefinitionNode): ReadonlySet<AccessRule> {
  let byDocument = requirementsByDocument.get(rules);
  if (!byDocument) requirementsByDocument.set(rules, (byDocument = new WeakMap()));
  let byOperation = byDocument.get(document);
  if (!byOperation) byDocument.set(document, (byOperation = new Map<string, ReadonlySet<AccessRule>>()));
  const name = operation.name?.value ?? '';
  let requirements = byOperation.get(name);
  if (!requirements) {
    const met = new Set<AccessRule>();
    const walk = new OperationWalk(rules, fragmentsOf(document), {
      refuse: (rule) => {
        if (rule) met.add(rule);
        return undefined;
      },
      runs: () => true,
    });
    const rootType = rules.schema.getRootType(operation.operation);
    if (rootType) walk.selectionSet(operation.selectionSet, rootType);
    byOperation.set(name, (requirements = met));
  }
  return requirements;
}

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  return fragments;
}

/**
 * Authorizes an operation of a validated document before it is planned, as Apollo Router's authorization directives
 * do: every field, and every fragment on a type, the caller may not see is removed from the operation, each with an
 * error at its path (UNAUTHENTICATED for an anonymous caller, FORBIDDEN otherwise), and the rest is served. A field
 * whose selections are all removed goes too. Selections that `@skip` or `@include` leave out with the request's
 * variables are not judged (a refused one is removed without an error). The document returned holds the one
 * operation, the fragments it still spreads and the variables it still uses, so that it validates and plans.
 */
export function authorizeOperation(input: {
  rules: AuthorizationRules;
  document: DocumentNode;
  operationName: string | undefined;
  variables: Record<string, unknown>;
  grants: Grants;
}): AuthorizationOutcome {
  const { rules, document, grants } = input;
  if (rules.isEmpty) return { kind: 'allowed' };
  const operation = getOperationAST(document, input.operationName);
  const rootType = operation && rules.schema.getRootType(operation.operation);
  if (!operation || !rootType) return { kind: 'allowed' };
  let satisfied = true;
  for (const rule of requirementsOf(rules, document, operation)) if (refusalOf(rule, grants)) satisfied = false;
  if (satisfied) return { kind: 'allowed' };

  const fragments = fragmentsOf(document);
  const runs = runsWith(variableValues(operation, input.variables));
  const walk = new OperationWalk(rules, fragments, { refuse: (rule) => refusalOf(rule, grants), runs });
  const filtered = walk.selectionSet(operation.selectionSet, rootType);
  if (!filtered.changed) return { kind: 'allowed' };
  const errors = filtered.removals.map(
    (removal) => new GraphQLError(removal.message, { nodes: removal.node, path: removal.path, extensions: { code: removal.code } }),
  );
  if (!filtered.selectionSet) return { kind: 'refused', data: rootNulls(operation, rootType, fragments, runs), errors };

  const changedFragments = walk.changedFragments;
  const filteredOperation: OperationDefinitionNode = { ...operation, selectionSet: filtered.selectionSet };
  const { fragmentNames, variableNames } = usedBy(filteredOperation, (name) =>
    changedFragments.has(name) ? changedFragments.get(name) : fragments.get(name)?.selectionSet,
  );
  const definitions = [
    {
      ...filteredOperation,
      variableDefinitions: operation.variableDefinitions?.filter((variable) => variableNames.has(variable.variable.name.value)),
    },
    ...[...fragments.values()]
      .filter((fragment) => fragmentNames.has(fragment.name.value))
      .map((fragment) => {
        const selectionSet = changedFragments.get(fragment.name.value);
        return selectionSet ? { ...fragment, selectionSet } : fragment;
      }),
  ];
  return {
    kind: 'filtered',
    document: { kind: Kind.DOCUMENT, definitions },
    errors,
    removedPaths: filtered.removals.map((removal) => removal.path),
  };
}

/** The fragments an operation spreads, through the fragments themselves, and the variables all of them use. */
function usedBy(
  operation: OperationDefinitionNode,
  selectionsOf: (fragment: string) => SelectionSetNode | undefined,
): { fragmentNames: Set<string>; variableNames: Set<string> } {
  const fragmentNames = new Set<string>();
  const variableNames = new Set<string>();
  const visitValue = (value: ASTNode): void => {
    if (value.kind === Kind.VARIABLE) variableNames.add(value.name.value);
    else if (value.kind === Kind.LIST) value.values.forEach(visitValue);
    else if (value.kind === Kind.OBJECT) value.fields.forEach((field) => visitValue(field.value));
  };
  const visitDirectives = (node: { directives?: readonly { arguments?: readonly { value: ASTNode }[] }[] }) =>
    node.directives?.forEach((directive) => directive.arguments?.forEach((argument) => visitValue(argument.value)));
  const pending: SelectionSetNode[] = [operation.selectionSet];
  visitDirectives(operation);
  for (let selectionSet = pending.pop(); selectionSet; selectionSet = pending.pop()) {
    for (const selection of selectionSet.selections) {
      visitDirectives(selection);
      if (selection.kind === Kind.FIELD) {
        selection.arguments?.forEach((argument) => visitValue(argument.value));
        if (selection.selectionSet) pending.push(selection.selectionSet);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) pending.push(selection.selectionSet);
      else if (!fragmentNames.has(selection.name.value)) {
        fragmentNames.add(selection.name.value);
        const spread = selectionsOf(selection.name.value);
        if (spread) pending.push(spread);
      }
    }
  }
  return { fragmentNames, variableNames };
}

/** The data of an operation none of whose root fields is left: each null, or no data at all if one of them is non-null. */
function rootNulls(
  operation: OperationDefinitionNode,
  rootType: GraphQLCompositeType,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  runs: (selection: SelectionNode) => boolean,
): Record<string, null> | null {
  const data: Record<string, null> = {};
  const collect = (selectionSet: SelectionSetNode): boolean => {
    for (const selection of selectionSet.selections) {
      if (!runs(selection)) continue;
      if (selection.kind === Kind.FIELD) {
        const definition = fieldDefinition(rootType, selection.name.value);
        if (definition && isNonNullType(definition.type)) return false;
        data[(selection.alias ?? selection.name).value] = null;
      } else {
        const nested = selection.kind === Kind.INLINE_FRAGMENT ? selection.selectionSet : fragments.get(selection.name.value)?.selectionSet;
        if (nested && !collect(nested)) return false;
      }
    }
    return true;
  };
  return collect(operation.selectionSet) ? data : null;
}
