import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isIntrospectionType,
  isObjectType,
  isSpecifiedScalarType,
  isUnionType,
  type GraphQLArgument,
  type GraphQLInputField,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';

export type LintSeverity = 'error' | 'warning';

export interface LintFinding {
  rule: string;
  severity: LintSeverity;
  coordinate: string;
  message: string;
}

const PASCAL_CASE = /^[A-Z][A-Za-z0-9]*$/;
const CAMEL_CASE = /^[a-z][A-Za-z0-9]*$/;
const SCREAMING_SNAKE_CASE = /^[A-Z][A-Z0-9_]*$/;
/** graphql-js fills this in when `@deprecated` is given no reason. */
const DEFAULT_DEPRECATION_REASON = 'No longer supported';

function ownTypes(schema: GraphQLSchema): GraphQLNamedType[] {
  return Object.values(schema.getTypeMap()).filter((type) => !isIntrospectionType(type) && !isSpecifiedScalarType(type));
}

/** Types reachable from the root operation types; anything else is dead weight in the public schema. */
function reachableTypes(schema: GraphQLSchema): Set<string> {
  const reached = new Set<string>();
  const pending: GraphQLNamedType[] = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(
    (type): type is NonNullable<typeof type> => !!type,
  );
  while (pending.length > 0) {
    const type = pending.pop()!;
    if (reached.has(type.name)) continue;
    reached.add(type.name);
    const next: GraphQLNamedType[] = [];
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        next.push(getNamedType(field.type), ...field.args.map((arg) => getNamedType(arg.type)));
      }
      next.push(...type.getInterfaces());
      if (isInterfaceType(type)) next.push(...schema.getPossibleTypes(type));
    } else if (isUnionType(type)) {
      next.push(...type.getTypes());
    } else if (isInputObjectType(type)) {
      next.push(...Object.values(type.getFields()).map((field) => getNamedType(field.type)));
    }
    pending.push(...next);
  }
  return reached;
}

/**
 * The conventions of the NexusFlow graph. Errors fail `schema:check` (unless acknowledged); warnings
 * are reported for review.
 */
export function lintApiSchema(schema: GraphQLSchema): LintFinding[] {
  const findings: LintFinding[] = [];
  const report = (rule: string, severity: LintSeverity, coordinate: string, message: string) =>
    findings.push({ rule, severity, coordinate, message });

  const checkDeprecation = (coordinate: string, reason: string | null | undefined) => {
    if (reason === undefined || reason === null) return;
    if (reason.trim() === '' || reason === DEFAULT_DEPRECATION_REASON) {
      report('deprecation-reason', 'error', coordinate, 'is deprecated without a reason; say what to use instead and when it goes away');
    }
  };

  const checkMember = (coordinate: string, member: GraphQLInputField | GraphQLArgument, kind: 'argument' | 'input field') => {
    if (!CAMEL_CASE.test(member.name)) report('field-naming', 'error', coordinate, `${kind} names are camelCase`);
    if (kind === 'input field' && !member.description?.trim())
      report('description-required', 'warning', coordinate, `${kind} has no description`);
    checkDeprecation(coordinate, member.deprecationReason);
  };
  const rootTypes = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].map((type) => type?.name));

  const reachable = reachableTypes(schema);
  for (const type of ownTypes(schema)) {
    if (!PASCAL_CASE.test(type.name)) report('type-naming', 'error', type.name, 'type names are PascalCase');
    // Root types are described by their fields.
    if (!type.description?.trim() && !rootTypes.has(type.name))
      report('description-required', 'warning', type.name, 'type has no description');
    if (!reachable.has(type.name)) report('no-unused-types', 'warning', type.name, 'is not reachable from Query, Mutation or Subscription');

    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        const coordinate = `${type.name}.${field.name}`;
        if (!CAMEL_CASE.test(field.name)) report('field-naming', 'error', coordinate, 'field names are camelCase');
        if (!field.description?.trim()) report('description-required', 'warning', coordinate, 'field has no description');
        checkDeprecation(coordinate, field.deprecationReason);
        for (const arg of field.args) checkMember(`${coordinate}(${arg.name}:)`, arg, 'argument');
      }
    } else if (isInputObjectType(type)) {
      if (!type.name.endsWith('Input')) report('input-type-suffix', 'warning', type.name, 'input type names end with "Input"');
      for (const field of Object.values(type.getFields())) checkMember(`${type.name}.${field.name}`, field, 'input field');
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) {
        const coordinate = `${type.name}.${value.name}`;
        if (!SCREAMING_SNAKE_CASE.test(value.name))
          report('enum-value-naming', 'error', coordinate, 'enum values are SCREAMING_SNAKE_CASE');
        checkDeprecation(coordinate, value.deprecationReason);
      }
    }
  }
  return findings;
}
