import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
} from 'graphql';

/** One root field called with made-up but well-typed arguments, e.g. to see who may call it at all. */
export interface SampleOperation {
  /** `Mutation.createWorkflow`. */
  coordinate: string;
  document: string;
  variables: Record<string, unknown>;
}

const SCALAR_SAMPLES: Record<string, () => unknown> = {
  ID: () => randomUUID(),
  String: () => 'sample',
  Int: () => 1,
  Float: () => 1,
  Boolean: () => false,
  DateTime: () => new Date(Date.now() + 86_400_000).toISOString(),
  JSON: () => ({}),
};

/** A value of `type` that passes GraphQL validation: required fields filled, optional ones left out. */
function sampleOf(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return sampleOf(type.ofType);
  if (isListType(type)) return [sampleOf(type.ofType)];
  if (isEnumType(type)) return type.getValues()[0]!.value;
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields()).filter((field) => isNonNullType(field.type) && field.defaultValue === undefined);
    return Object.fromEntries(fields.map((field) => [field.name, sampleOf(field.type)]));
  }
  if (isScalarType(type)) {
    const sample = SCALAR_SAMPLES[type.name];
    if (!sample) throw new Error(`no sample value for scalar ${type.name}: add one to SCALAR_SAMPLES`);
    return sample();
  }
  throw new Error(`unexpected input type ${String(type)}`);
}

function sampleOperation(operation: 'mutation' | 'query', rootType: string, field: GraphQLField<unknown, unknown>): SampleOperation {
  const required = field.args.filter((argument) => isNonNullType(argument.type) && argument.defaultValue === undefined);
  const definitions = required.map((argument) => `$${argument.name}: ${String(argument.type)}`).join(', ');
  const argumentsText = required.map((argument) => `${argument.name}: $${argument.name}`).join(', ');
  const selection = isScalarType(getNamedType(field.type)) || isEnumType(getNamedType(field.type)) ? '' : ' { __typename }';
  return {
    coordinate: `${rootType}.${field.name}`,
    document: `${operation}${definitions ? ` (${definitions})` : ''} { ${field.name}${argumentsText ? `(${argumentsText})` : ''}${selection} }`,
    variables: Object.fromEntries(required.map((argument) => [argument.name, sampleOf(argument.type)])),
  };
}

/** Every mutation of a composed API schema, each with sample arguments. */
export function sampleMutationsOf(apiSchemaFile: string): SampleOperation[] {
  const schema = buildSchema(readFileSync(apiSchemaFile, 'utf8'));
  const mutation = schema.getMutationType();
  return mutation ? Object.values(mutation.getFields()).map((field) => sampleOperation('mutation', mutation.name, field)) : [];
}
