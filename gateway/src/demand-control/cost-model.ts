import { Kind, parse, valueFromASTUntyped, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode } from 'graphql';
import { resolveOperation } from '../execution/operation-resolution.ts';
import { ActualCostCalculator } from './actual.ts';
import { EstimateCompiler, type EstimateRun } from './estimate.ts';
import type { VariableValues } from './input-cost.ts';
import { schemaCostsOf, type SchemaCosts } from './schema-costs.ts';

export interface CostOptions {
  /** Size assumed for a list without @listSize or a slicing argument. @default 10 */
  defaultListSize?: number;
}

export const DEFAULT_LIST_SIZE = 10;

/** The cost of one operation: compiled once (the gateway caches it beside its query plan), evaluated per request. */
export interface PreparedCost {
  /** Static estimate before execution, from the operation and its variables (slicing arguments read from variables or literals, @skip/@include evaluated). */
  estimate(variables: Record<string, unknown>): number;
  /** The same scoring applied to the response's data, with real list lengths. */
  actual(data: unknown, variables: Record<string, unknown>): number;
}

class PreparedOperationCost implements PreparedCost {
  private readonly estimateCost: (run: EstimateRun) => number;
  private readonly actualCost: ActualCostCalculator;
  /** The operation's own variable defaults, for variables a request leaves out. */
  private readonly variableDefaults: [string, unknown][];

  constructor(costs: SchemaCosts, document: DocumentNode, operation: OperationDefinitionNode) {
    const fragments = new Map(
      document.definitions
        .filter((definition): definition is FragmentDefinitionNode => definition.kind === Kind.FRAGMENT_DEFINITION)
        .map((fragment) => [fragment.name.value, fragment]),
    );
    const rootType = { query: costs.queryType, mutation: costs.mutationType, subscription: costs.subscriptionType }[operation.operation];
    this.estimateCost = new EstimateCompiler(costs, fragments).compileRoot(operation.selectionSet, rootType);
    this.actualCost = new ActualCostCalculator(costs, fragments, operation.selectionSet, rootType);
    this.variableDefaults = (operation.variableDefinitions ?? []).flatMap((definition) =>
      definition.defaultValue ? [[definition.variable.name.value, valueFromASTUntyped(definition.defaultValue)] as [string, unknown]] : [],
    );
  }

  estimate(variables: Record<string, unknown>): number {
    return this.estimateCost({ variables: this.withDefaults(variables), fragmentCosts: new Map() });
  }

  actual(data: unknown, variables: Record<string, unknown>): number {
    return this.actualCost.cost(data, this.withDefaults(variables));
  }

  private withDefaults(variables: Record<string, unknown> | null | undefined): VariableValues {
    const given = variables !== null && typeof variables === 'object' ? variables : {};
    if (this.variableDefaults.length === 0) return given;
    const effective: Record<string, unknown> = { ...given };
    for (const [name, value] of this.variableDefaults) if (effective[name] === undefined) effective[name] = value;
    return effective;
  }
}

/**
 * Demand control's cost model (Apollo Router's and Cosmo's, after the IBM GraphQL Cost Directive spec):
 * the `@cost` and `@listSize` applications of a supergraph, read once per supergraph, and the cost of
 * operations scored with them. Pure: it depends on the SDL and the operations only.
 */
export class CostModel {
  private constructor(private readonly costs: SchemaCosts) {}

  static fromSupergraph(supergraphSdl: string, options: CostOptions = {}): CostModel {
    const defaultListSize = options.defaultListSize ?? DEFAULT_LIST_SIZE;
    if (!Number.isInteger(defaultListSize) || defaultListSize < 0)
      throw new RangeError(`defaultListSize must be a whole number ≥ 0, got ${defaultListSize}`);
    return new CostModel(schemaCostsOf(parse(supergraphSdl), defaultListSize));
  }

  /** Compiled once per operation (the gateway caches it beside its query plan), evaluated per request. */
  prepare(document: DocumentNode, operationName?: string): PreparedCost {
    return new PreparedOperationCost(this.costs, document, resolveOperation(document, operationName));
  }
}
