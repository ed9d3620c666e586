import { Kind, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import { MUTATION_FIELD_COST } from './estimate.ts';
import { compileArgumentsCost, type ArgumentsCost, type VariableValues } from './input-cost.ts';
import type { OutputFieldCost, SchemaCosts } from './schema-costs.ts';

/** One field a response key can hold: every occurrence of the same field under that key, merged. */
interface ResponseField {
  field: OutputFieldCost;
  /** The runtime types it was selected for; undefined: any. */
  types: Set<string> | undefined;
  node: FieldNode;
  /** Its selection sets, from each occurrence, as execution merges them. */
  selectionSets: SelectionSetNode[];
  isMutationRoot: boolean;
  argumentsCost: ArgumentsCost | undefined;
  plan: ResponsePlan | undefined;
}

/** Every field one response key was selected as, and what they merge to per runtime type. */
interface ResponseKey {
  candidates: ResponseField[];
  merged: Map<string, ResponseField>;
}

/**
 * What each response key of an object was selected as, fragments flattened: only the keys that can add to the cost.
 * Most of a response is scalars of weight 0 without costly arguments, which add nothing whatever their value, so a
 * walk costs the response's objects rather than its fields.
 */
type ResponsePlan = readonly (readonly [string, ResponseKey])[];

function hasOwn(object: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

/**
 * The field a response key holds on an object of this runtime type (unknown without `__typename`):
 * execution merges every selection of the key that applies to the object, and the narrowest
 * definition (a member's own, over its interface's) carries the weights that apply.
 */
function fieldFor(responseKey: ResponseKey, typename: string | undefined): ResponseField {
  const { candidates, merged } = responseKey;
  if (candidates.length === 1) return candidates[0]!;
  const cacheKey = typename ?? '';
  let field = merged.get(cacheKey);
  if (!field) {
    const applicable = candidates.filter(({ types }) => typename === undefined || !types || types.has(typename));
    const chosen = applicable.length > 0 ? applicable : candidates;
    const narrowest = chosen.find(({ types }) => types) ?? chosen[0]!;
    field = {
      ...narrowest,
      selectionSets: chosen.flatMap(({ selectionSets }) => selectionSets),
      argumentsCost: undefined,
      plan: undefined,
    };
    merged.set(cacheKey, field);
  }
  return field;
}

/**
 * Scores response data with the same rules as the estimate, counting the list items really returned.
 * Plans of each selection set are built the first time data reaches them and kept for later requests,
 * so a walk costs the size of the response. Nulls, missing fields and unexpected shapes (what errors
 * leave in data) score as nothing selected below them, never throw.
 */
export class ActualCostCalculator {
  private readonly plans = new Map<string, ResponsePlan>();
  private readonly selectionSetIds = new Map<SelectionSetNode, number>();
  private rootPlan: ResponsePlan | undefined;

  constructor(
    private readonly costs: SchemaCosts,
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
    private readonly rootSelectionSet: SelectionSetNode,
    private readonly rootType: string | undefined,
  ) {}

  cost(data: unknown, variables: VariableValues): number {
    if (!this.rootType || data === null || typeof data !== 'object' || Array.isArray(data)) return 0;
    this.rootPlan ??= this.planOf([this.rootSelectionSet], this.rootType);
    return this.objectCost(data, this.rootPlan, variables);
  }

  private objectCost(object: object, plan: ResponsePlan, variables: VariableValues): number {
    const typename = (object as { __typename?: unknown }).__typename;
    let total = 0;
    for (const [key, responseKey] of plan) {
      if (!hasOwn(object, key)) continue;
      const selected = fieldFor(responseKey, typeof typename === 'string' ? typename : undefined);
      selected.argumentsCost ??= compileArgumentsCost(selected.node.arguments, selected.field, this.costs);
      total += this.valueCost((object as Record<string, unknown>)[key], selected, variables) + selected.argumentsCost(variables);
      if (selected.isMutationRoot) total += MUTATION_FIELD_COST;
    }
    return total;
  }

  private valueCost(value: unknown, selected: ResponseField, variables: VariableValues): number {
    const { field } = selected;
    if (!field.isComposite) {
      const weight = field.weight ?? 0;
      if (weight === 0) return 0;
      return field.isList && Array.isArray(value) ? weight * value.length : weight;
    }
    if (value === null || typeof value !== 'object') return field.weight ?? 0;
    if (Array.isArray(value)) {
      let total = 0;
      for (const item of value) total += this.valueCost(item, selected, variables);
      return total;
    }
    selected.plan ??= this.planOf(selected.selectionSets, field.typeName);
    return (field.weight ?? 1) + this.objectCost(value, selected.plan, variables);
  }

  private idOf(selectionSet: SelectionSetNode): number {
    let id = this.selectionSetIds.get(selectionSet);
    if (id === undefined) {
      id = this.selectionSetIds.size;
      this.selectionSetIds.set(selectionSet, id);
    }
    return id;
  }

  /** Shared by every path that selects the same selection sets, as a fragment's fields are. */
  private planOf(selectionSets: readonly SelectionSetNode[], typeName: string): ResponsePlan {
    const key = `${typeName}:${selectionSets.map((selectionSet) => this.idOf(selectionSet)).join(',')}`;
    let plan = this.plans.get(key);
    if (!plan) {
      plan = this.flatten(selectionSets, typeName);
      this.plans.set(key, plan);
    }
    return plan;
  }

  /** A field that adds nothing whatever its value: a scalar of weight 0 whose arguments cost nothing, outside a mutation's root. */
  private isFree(candidate: ResponseField): boolean {
    const { field } = candidate;
    if (field.isComposite || (field.weight ?? 0) !== 0 || candidate.isMutationRoot) return false;
    candidate.argumentsCost ??= compileArgumentsCost(candidate.node.arguments, field, this.costs);
    return candidate.argumentsCost.constant === 0;
  }

  private flatten(selectionSets: readonly SelectionSetNode[], typeName: string): ResponsePlan {
    const plan = new Map<string, ResponseKey>();
    const everyType = this.costs.possibleTypes(typeName);
    // A fragment spread twice for the same types adds nothing the first spread did not.
    const spread = new Set<string>();

    const narrow = (types: Set<string> | undefined, condition: string): Set<string> | undefined => {
      const covered = this.costs.possibleTypes(condition);
      const current = types ?? everyType;
      if ([...current].every((type) => covered.has(type))) return types;
      return new Set([...current].filter((type) => covered.has(type)));
    };

    const visitSet = (selectionSet: SelectionSetNode, parentType: string, types: Set<string> | undefined) => {
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          const name = selection.name.value;
          if (name.startsWith('__')) continue;
          const field = this.costs.outputField(parentType, name);
          if (!field) continue;
          const key = selection.alias?.value ?? name;
          const responseKey: ResponseKey = plan.get(key) ?? { candidates: [], merged: new Map() };
          const same = responseKey.candidates.find((candidate) => candidate.field === field);
          if (same) {
            if (selection.selectionSet) same.selectionSets.push(selection.selectionSet);
            same.types = same.types && types ? new Set([...same.types, ...types]) : undefined;
          } else {
            responseKey.candidates.push({
              field,
              types,
              node: selection,
              selectionSets: selection.selectionSet ? [selection.selectionSet] : [],
              isMutationRoot: parentType === this.costs.mutationType,
              argumentsCost: undefined,
              plan: undefined,
            });
            plan.set(key, responseKey);
          }
        } else {
          const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? this.fragments.get(selection.name.value) : undefined;
          const condition =
            selection.kind === Kind.INLINE_FRAGMENT
              ? (selection.typeCondition?.name.value ?? parentType)
              : fragment?.typeCondition.name.value;
          if (!condition) continue;
          const narrowed = narrow(types, condition);
          if (narrowed?.size === 0) continue;
          if (fragment) {
            const once = `${fragment.name.value}:${narrowed ? [...narrowed].sort().join(',') : '*'}`;
            if (spread.has(once)) continue;
            spread.add(once);
            visitSet(fragment.selectionSet, condition, narrowed);
          } else if (selection.kind === Kind.INLINE_FRAGMENT) {
            visitSet(selection.selectionSet, condition, narrowed);
          }
        }
      }
    };

    for (const selectionSet of selectionSets) visitSet(selectionSet, typeName, undefined);
    return [...plan].filter(([, responseKey]) => !responseKey.candidates.every((candidate) => this.isFree(candidate)));
  }
}
