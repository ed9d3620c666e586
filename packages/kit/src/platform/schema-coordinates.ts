import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type ASTVisitor,
  type DocumentNode,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';

/**
 * A variable's type is used whole: the client may send any field of an input, any value of an enum, so nothing in it is
 * safe to remove on the evidence of the document alone.
 */
function markWholeInput(type: GraphQLNamedType, used: Set<string>): void {
  if (used.has(type.name)) return;
  used.add(type.name);
  if (isEnumType(type)) for (const value of type.getValues()) used.add(`${type.name}.${value.name}`);
  if (isInputObjectType(type)) {
    for (const field of Object.values(type.getFields())) {
      used.add(`${type.name}.${field.name}`);
      markWholeInput(getNamedType(field.type), used);
    }
  }
}

/**
 * The schema coordinates an operation uses, as usage reporting and schema checks name them: `Type`, `Type.field`,
 * `Type.field.argument`, `Input.field`, `Enum.VALUE`, and fragments' type conditions. Read from `operation` and every
 * fragment of `document` (validation leaves none unused, so they are this operation's or another of the document's),
 * or from the whole document when no operation is given.
 */
export function schemaCoordinatesOf(schema: GraphQLSchema, document: DocumentNode, operation?: ASTNode): Set<string> {
  const used = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  const visitor: ASTVisitor = visitWithTypeInfo(typeInfo, {
    Field(node) {
      const parent = typeInfo.getParentType();
      if (!parent) return;
      used.add(parent.name);
      used.add(`${parent.name}.${node.name.value}`);
      const type = typeInfo.getType();
      if (type) used.add(getNamedType(type).name);
    },
    Argument(node) {
      const parent = typeInfo.getParentType();
      const field = typeInfo.getFieldDef();
      if (parent && field) used.add(`${parent.name}.${field.name}.${node.name.value}`);
      const input = typeInfo.getInputType();
      if (input) used.add(getNamedType(input).name);
    },
    VariableDefinition() {
      const input = typeInfo.getInputType();
      if (input) markWholeInput(getNamedType(input), used);
    },
    ObjectField(node) {
      const parent = typeInfo.getParentInputType();
      if (parent) used.add(`${getNamedType(parent).name}.${node.name.value}`);
    },
    EnumValue(node) {
      const input = typeInfo.getInputType();
      if (input) used.add(`${getNamedType(input).name}.${node.value}`);
    },
    InlineFragment(node) {
      if (node.typeCondition) used.add(node.typeCondition.name.value);
    },
  });
  if (!operation) visit(document, visitor);
  else {
    visit(operation, visitor);
    for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) visit(definition, visitor);
  }
  used.delete('');
  return used;
}
