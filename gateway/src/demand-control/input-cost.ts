import { Kind, visit, BREAK, type ArgumentNode, type ValueNode } from 'graphql';
import type { InputValueCost, OutputFieldCost, SchemaCosts } from './schema-costs.ts';

export type VariableValues = Readonly<Record<string, unknown>>;

/** Input objects weigh 1 each unless they say otherwise, as composite output types do (IBM spec, Apollo). */
const INPUT_OBJECT_WEIGHT = 1;

/**
 * What a value passed to an argument or input field adds: its `@cost` (or its type's), an input object
 * 1 plus its fields' costs, a list its own weight plus each item's. Nulls are free; keys the schema does
 * not know add nothing (validation refuses them before this runs).
 */
export function inputCost(value: unknown, definition: InputValueCost, costs: SchemaCosts): number {
  if (value === null || value === undefined) return 0;
  if (Array.isArray(value)) {
    if (!definition.isList) return definition.weight ?? 0;
    let total = definition.weight ?? 0;
    for (const item of value) total += inputCost(item, definition, costs);
    return total;
  }
  if (typeof value === 'object' && definition.isInputObject) {
    let total = definition.weight ?? INPUT_OBJECT_WEIGHT;
    for (const [name, fieldValue] of Object.entries(value)) {
      const field = costs.inputField(definition.typeName, name);
      if (field) total += inputCost(fieldValue, field, costs);
    }
    return total;
  }
  return definition.weight ?? 0;
}

/** {@link inputCost} of a literal in the operation, whose parts may be variables. */
export function literalCost(node: ValueNode, definition: InputValueCost, costs: SchemaCosts, variables: VariableValues): number {
  switch (node.kind) {
    case Kind.VARIABLE:
      return inputCost(variables[node.name.value], definition, costs);
    case Kind.NULL:
      return 0;
    case Kind.LIST: {
      if (!definition.isList) return definition.weight ?? 0;
      let total = definition.weight ?? 0;
      for (const item of node.values) total += literalCost(item, definition, costs, variables);
      return total;
    }
    case Kind.OBJECT: {
      if (!definition.isInputObject) return definition.weight ?? 0;
      let total = definition.weight ?? INPUT_OBJECT_WEIGHT;
      for (const field of node.fields) {
        const fieldDefinition = costs.inputField(definition.typeName, field.name.value);
        if (fieldDefinition) total += literalCost(field.value, fieldDefinition, costs, variables);
      }
      return total;
    }
    default:
      return definition.weight ?? 0;
  }
}

function mentionsVariables(node: ValueNode): boolean {
  let found = false;
  visit(node, {
    Variable() {
      found = true;
      return BREAK;
    },
  });
  return found;
}

/** A field's arguments' cost per request; `constant` is set when no variable is involved, so the cost never changes. */
export type ArgumentsCost = ((variables: VariableValues) => number) & { readonly constant?: number };

/** The cost of a field's arguments as a function of the variables; literals are scored once, here. */
export function compileArgumentsCost(
  argumentNodes: readonly ArgumentNode[] | undefined,
  field: OutputFieldCost,
  costs: SchemaCosts,
): ArgumentsCost {
  let constant = 0;
  const dependent: { value: ValueNode; definition: InputValueCost }[] = [];
  for (const argument of argumentNodes ?? []) {
    const definition = field.arguments.get(argument.name.value);
    if (!definition) continue;
    if (mentionsVariables(argument.value)) dependent.push({ value: argument.value, definition });
    else constant += literalCost(argument.value, definition, costs, {});
  }
  if (dependent.length === 0) return Object.assign(() => constant, { constant });
  return (variables) => {
    let total = constant;
    for (const { value, definition } of dependent) total += literalCost(value, definition, costs, variables);
    return total;
  };
}
