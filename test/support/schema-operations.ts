import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, Kind, parse, type GraphQLObjectType, type ObjectTypeDefinitionNode, type ObjectTypeExtensionNode } from 'graphql';

/** `Query.me`, `Mutation.register`, `Subscription.executionUpdated`, ...: every root field of a composed API schema. */
export function rootOperationsOf(apiSchemaFile: string): string[] {
  const schema = buildSchema(readFileSync(apiSchemaFile, 'utf8'));
  const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(
    (type): type is GraphQLObjectType => !!type,
  );
  return roots.flatMap((type) => Object.keys(type.getFields()).map((field) => `${type.name}.${field}`));
}

/**
 * `auth:User`, `workflows:Execution`, ...: every type that a subgraph resolves through `_entities`, i.e. has a `@key`
 * that is not `resolvable: false`, read from `<subgraphsDirectory>/<name>/schema.graphql` (one graph's folder, e.g. `subgraphs/nexusflow`).
 */
export function resolvableEntitiesOf(subgraphsDirectory: string): string[] {
  const entities: string[] = [];
  for (const subgraph of readdirSync(subgraphsDirectory).sort()) {
    const schemaFile = join(subgraphsDirectory, subgraph, 'schema.graphql');
    if (!existsSync(schemaFile)) continue;
    for (const definition of parse(readFileSync(schemaFile, 'utf8')).definitions) {
      if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
      const type: ObjectTypeDefinitionNode | ObjectTypeExtensionNode = definition;
      const resolvableKey = type.directives?.some(
        (directive) =>
          directive.name.value === 'key' &&
          !directive.arguments?.some(
            (argument) => argument.name.value === 'resolvable' && argument.value.kind === Kind.BOOLEAN && !argument.value.value,
          ),
      );
      if (resolvableKey) entities.push(`${subgraph}:${type.name.value}`);
    }
  }
  return entities;
}
