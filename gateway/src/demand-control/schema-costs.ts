import {
  buildASTSchema,
  getNamedType,
  getNullableType,
  isAbstractType,
  isCompositeType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isObjectType,
  valueFromASTUntyped,
  type ConstDirectiveNode,
  type DocumentNode,
  type GraphQLArgument,
  type GraphQLInputField,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';
import { costDirectiveNames, type CostDirectiveNames } from './cost-directives.ts';

/** What `@listSize` says about one field. */
export interface ListSizeRule {
  /** Size when no slicing argument has a value. */
  assumedSize: number | undefined;
  /** Argument paths (`first`, or `input.pagination.first`) whose value is the list's size. */
  slicingArguments: readonly (readonly string[])[];
  /** Lists under the field's result (a connection's `edges`) that the field's size applies to. */
  sizedFields: ReadonlySet<string>;
}

/** An argument or input field, as far as its cost goes. */
export interface InputValueCost {
  /** Its named type. */
  typeName: string;
  isList: boolean;
  isInputObject: boolean;
  /** Its `@cost`, else its type's `@cost` (scalars and enums). */
  weight: number | undefined;
  /** The schema's default, used for a slicing argument the operation leaves out. */
  defaultValue: unknown;
}

/** A field of an object or interface, as far as its cost goes. */
export interface OutputFieldCost {
  /** `Type.field`. */
  coordinate: string;
  /** Its named type. */
  typeName: string;
  isComposite: boolean;
  isList: boolean;
  /** Its `@cost`, else its type's `@cost` (objects, scalars, enums). */
  weight: number | undefined;
  listSize: ListSizeRule | undefined;
  arguments: ReadonlyMap<string, InputValueCost>;
}

/** The cost-relevant part of a schema: every field's weight, list size and argument weights, read once. */
export interface SchemaCosts {
  /** Size assumed for a list nothing else sizes. */
  defaultListSize: number;
  queryType: string | undefined;
  mutationType: string | undefined;
  subscriptionType: string | undefined;
  outputField(typeName: string, fieldName: string): OutputFieldCost | undefined;
  inputField(typeName: string, fieldName: string): InputValueCost | undefined;
  /** The object types a value of this type can be: itself for an object type, its members otherwise. */
  possibleTypes(typeName: string): ReadonlySet<string>;
}

function directiveNamed(
  name: string,
  ...owners: ({ readonly directives?: readonly ConstDirectiveNode[] } | null | undefined)[]
): ConstDirectiveNode | undefined {
  for (const owner of owners) {
    const found = owner?.directives?.find((directive) => directive.name.value === name);
    if (found) return found;
  }
  return undefined;
}

function argumentValue(directive: ConstDirectiveNode | undefined, name: string): unknown {
  const node = directive?.arguments?.find((argument) => argument.name.value === name)?.value;
  return node ? valueFromASTUntyped(node) : undefined;
}

/** Federation 2.9+ writes weights as Int, the IBM spec as a String ("2.0"): both are read. */
function weightOf(directive: ConstDirectiveNode | undefined): number | undefined {
  const weight = argumentValue(directive, 'weight');
  if (typeof weight !== 'number' && typeof weight !== 'string') return undefined;
  const parsed = Number(weight);
  return Number.isFinite(parsed) ? parsed : undefined;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

const PLAIN_FIELD_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

function listSizeRuleOf(directive: ConstDirectiveNode | undefined): ListSizeRule | undefined {
  if (!directive) return undefined;
  const assumedSize = argumentValue(directive, 'assumedSize');
  return {
    assumedSize: typeof assumedSize === 'number' && Number.isInteger(assumedSize) && assumedSize >= 0 ? assumedSize : undefined,
    slicingArguments: stringList(argumentValue(directive, 'slicingArguments')).map((path) => path.split('.')),
    // Nested selections ("results { page }") are a later Apollo extension; a field name is what the spec defines.
    sizedFields: new Set(stringList(argumentValue(directive, 'sizedFields')).filter((name) => PLAIN_FIELD_NAME.test(name))),
  };
}

function typeDirectiveOwners(type: GraphQLNamedType) {
  return [type.astNode, ...type.extensionASTNodes];
}

function inputValueCost(value: GraphQLArgument | GraphQLInputField, names: CostDirectiveNames | undefined): InputValueCost {
  const namedType = getNamedType(value.type);
  return {
    typeName: namedType.name,
    isList: isListType(getNullableType(value.type)),
    isInputObject: isInputObjectType(namedType),
    weight: names
      ? weightOf(directiveNamed(names.cost, value.astNode) ?? directiveNamed(names.cost, ...typeDirectiveOwners(namedType)))
      : undefined,
    defaultValue: value.defaultValue,
  };
}

/** Reads the cost directives of a schema SDL (a composed supergraph, a subgraph, or a plain schema). */
export function schemaCostsOf(document: DocumentNode, defaultListSize: number): SchemaCosts {
  const schema: GraphQLSchema = buildASTSchema(document, { assumeValidSDL: true });
  const names = costDirectiveNames(document);
  const outputFields = new Map<string, Map<string, OutputFieldCost>>();
  const inputFields = new Map<string, Map<string, InputValueCost>>();
  const possibleTypes = new Map<string, ReadonlySet<string>>();

  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    if (isObjectType(type) || isInterfaceType(type)) {
      const fields = new Map<string, OutputFieldCost>();
      for (const field of Object.values(type.getFields())) {
        const namedType = getNamedType(field.type);
        fields.set(field.name, {
          coordinate: `${type.name}.${field.name}`,
          typeName: namedType.name,
          isComposite: isCompositeType(namedType),
          isList: isListType(getNullableType(field.type)),
          weight: names
            ? weightOf(directiveNamed(names.cost, field.astNode) ?? directiveNamed(names.cost, ...typeDirectiveOwners(namedType)))
            : undefined,
          listSize: names ? listSizeRuleOf(directiveNamed(names.listSize, field.astNode)) : undefined,
          arguments: new Map(field.args.map((argument) => [argument.name, inputValueCost(argument, names)])),
        });
      }
      outputFields.set(type.name, fields);
    } else if (isInputObjectType(type)) {
      inputFields.set(type.name, new Map(Object.values(type.getFields()).map((field) => [field.name, inputValueCost(field, names)])));
    }
    possibleTypes.set(type.name, new Set(isAbstractType(type) ? schema.getPossibleTypes(type).map(({ name }) => name) : [type.name]));
  }

  const noTypes: ReadonlySet<string> = new Set();
  return {
    defaultListSize,
    queryType: schema.getQueryType()?.name,
    mutationType: schema.getMutationType()?.name,
    subscriptionType: schema.getSubscriptionType()?.name,
    outputField: (typeName, fieldName) => outputFields.get(typeName)?.get(fieldName),
    inputField: (typeName, fieldName) => inputFields.get(typeName)?.get(fieldName),
    possibleTypes: (typeName) => possibleTypes.get(typeName) ?? noTypes,
  };
}
