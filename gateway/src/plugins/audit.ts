import type { ApolloServerPlugin } from '@apollo/server';
import { redactSecrets } from '@nexusflow/kit/core';
import {
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  OperationTypeNode,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import type { GatewayContext } from '../context.ts';
import type { AuditRecorder, GatewayAuditRecord } from '../features/audit.ts';

/** Variables larger than this (as JSON) are recorded as their size only: the trail is no place for uploads. */
const MAX_VARIABLES_JSON = 16 * 1024;

/**
 * `Type.field` of every field in `sensitive` the operation selects, fragments included (validation leaves none unused,
 * so a document's fragments are the operation's, or those of another operation of it: counted too, erring on recording).
 */
function sensitiveSelections(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  document: DocumentNode | undefined,
  sensitive: Set<string>,
): string[] {
  if (sensitive.size === 0) return [];
  const found = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  const visitor = visitWithTypeInfo(typeInfo, {
    Field(node) {
      const parent = typeInfo.getParentType();
      const coordinate = parent && `${getNamedType(parent).name}.${node.name.value}`;
      if (coordinate && sensitive.has(coordinate)) found.add(coordinate);
    },
  });
  visit(operation, visitor);
  for (const definition of document?.definitions ?? []) if (definition.kind === Kind.FRAGMENT_DEFINITION) visit(definition, visitor);
  return [...found].sort();
}

function bounded(values: Record<string, unknown> | undefined, what: string): Record<string, unknown> {
  const redacted = redactSecrets(values ?? {}) as Record<string, unknown>;
  const size = JSON.stringify(redacted).length;
  return size > MAX_VARIABLES_JSON ? { omitted: `${what} of ${size} bytes` } : redacted;
}

const included = (selection: SelectionNode, variables: Record<string, unknown>) =>
  getDirectiveValues(GraphQLSkipDirective, selection, variables)?.if !== true &&
  getDirectiveValues(GraphQLIncludeDirective, selection, variables)?.if !== false;

/**
 * The root fields a mutation executes, collected as execution collects them: through inline fragments and fragment
 * spreads, less what `@skip` and `@include` leave out. Reading only the top level would let `... on Mutation { … }`
 * hide what a mutation did.
 */
function rootFieldsOf(
  operation: OperationDefinitionNode,
  document: DocumentNode | undefined,
  variables: Record<string, unknown>,
): FieldNode[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document?.definitions ?? [])
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const spread = new Set<string>();
  const fields: FieldNode[] = [];
  const collect = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (!included(selection, variables)) continue;
      if (selection.kind === Kind.FIELD) fields.push(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) collect(selection.selectionSet);
      else if (!spread.has(selection.name.value)) {
        spread.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) collect(fragment.selectionSet);
      }
    }
  };
  collect(operation.selectionSet);
  return fields;
}

/** Each root field's arguments as executed, by response key: values written inline as well as those from variables. */
function argumentsOf(schema: GraphQLSchema, fields: readonly FieldNode[], variables: Record<string, unknown>): Record<string, unknown> {
  const definitions = schema.getMutationType()?.getFields() ?? {};
  const values: Record<string, unknown> = {};
  for (const field of fields) {
    const definition = definitions[field.name.value];
    if (definition && field.arguments?.length)
      values[field.alias?.value ?? field.name.value] = getArgumentValues(definition, field, variables);
  }
  return values;
}

/** `createWorkflow` acts on a workflow, `setAuditRetention` on an audit retention: the field name less its verb. */
const resourceTypeOf = (field: string) => {
  const noun = field.replace(/^[a-z]+/, '');
  return noun ? `${noun[0]!.toLowerCase()}${noun.slice(1)}` : field;
};

/** The id a mutation acts on, when its arguments or variables name one: `id`, or the first `…Id`, at the top or in `input`. */
function resourceIdOf(...sources: (Record<string, unknown> | undefined)[]): string | null {
  for (const scope of sources.flatMap((values) => [values, values?.input])) {
    if (!scope || typeof scope !== 'object') continue;
    const values = scope as Record<string, unknown>;
    const named = values.id ?? Object.entries(values).find(([key, value]) => key.endsWith('Id') && typeof value === 'string')?.[1];
    if (typeof named === 'string') return named.slice(0, 255);
  }
  return null;
}

/**
 * After each operation of a tenant's caller: a record of every mutation (who, what, the variables with secrets
 * redacted, how it ended) and of every operation that selected fields marked `@sensitive`, handed to the recorder,
 * which delivers them after the response (on the bus, or to the audit subgraph over HTTP) and never fails the request.
 */
export function auditPlugin(recorder: AuditRecorder, sensitiveFields: () => Set<string>): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, operation, document, schema, request, response }) {
          const { identity } = contextValue;
          if (!operation || identity.kind !== 'user') return;
          const mutation = operation.operation === OperationTypeNode.MUTATION;
          const sensitive =
            operation.operation === OperationTypeNode.QUERY ? sensitiveSelections(schema, operation, document, sensitiveFields()) : [];
          if (!mutation && sensitive.length === 0) return;
          const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : [];
          const variables = request.variables ?? {};
          let rootFields: string[] = [];
          let fieldArguments: Record<string, unknown> = {};
          let firstArguments: Record<string, unknown> | undefined;
          if (mutation) {
            try {
              const fields = rootFieldsOf(operation, document, variables);
              rootFields = [...new Set(fields.map((field) => field.name.value))];
              fieldArguments = argumentsOf(schema, fields, variables);
              firstArguments = fields[0] && (fieldArguments[fields[0].alias?.value ?? fields[0].name.value] as Record<string, unknown>);
            } catch {
              // Variables that execution could not coerce either: the response says so, and nothing ran to be named.
            }
          }
          const first = mutation ? rootFields[0] : sensitive[0];
          const record: GatewayAuditRecord = {
            source: mutation ? 'MUTATION' : 'SENSITIVE_READ',
            actor: { kind: identity.via === 'api-key' ? 'API_KEY' : 'USER', id: identity.userId },
            roles: identity.roles,
            operationName: operation.name?.value ?? request.operationName ?? null,
            action: mutation ? `mutation.${first ?? 'unknown'}` : `read.${first}`,
            resourceType: mutation ? (first ? resourceTypeOf(first) : null) : (first?.split('.')[0] ?? null),
            resourceId: mutation ? resourceIdOf(firstArguments, request.variables) : null,
            outcome: errors.length > 0 ? 'FAILURE' : 'SUCCESS',
            errorCodes: [
              ...new Set(
                errors.map(({ extensions }) => (typeof extensions?.code === 'string' ? extensions.code : 'INTERNAL_SERVER_ERROR')),
              ),
            ],
            fields: mutation ? rootFields : sensitive,
            variables: bounded(request.variables, 'variables'),
            arguments: bounded(fieldArguments, 'arguments'),
            ipAddress: contextValue.clientAddress ?? null,
            userAgent: contextValue.userAgent?.slice(0, 512) ?? null,
            requestId: contextValue.requestId,
          };
          recorder.record(identity.tenantId, record);
        },
      };
    },
  };
}
