import type { ApolloServerPlugin } from '@apollo/server';
import { redactSecrets } from '@nexusflow/kit/core';
import {
  getNamedType,
  Kind,
  OperationTypeNode,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
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

function boundedVariables(variables: Record<string, unknown> | undefined): Record<string, unknown> {
  const redacted = redactSecrets(variables ?? {}) as Record<string, unknown>;
  const size = JSON.stringify(redacted).length;
  return size > MAX_VARIABLES_JSON ? { omitted: `variables of ${size} bytes` } : redacted;
}

/** `createWorkflow` acts on a workflow, `setAuditRetention` on an audit retention: the field name less its verb. */
const resourceTypeOf = (field: string) => {
  const noun = field.replace(/^[a-z]+/, '');
  return noun ? `${noun[0]!.toLowerCase()}${noun.slice(1)}` : field;
};

/** The id a mutation acts on, when its variables name one: `id`, or the first `…Id`, at the top or in `input`. */
function resourceIdOf(variables: Record<string, unknown> | undefined): string | null {
  for (const scope of [variables, variables?.input]) {
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
          const rootFields = operation.selectionSet.selections.flatMap((selection) =>
            selection.kind === Kind.FIELD ? [selection.name.value] : [],
          );
          const first = mutation ? rootFields[0] : sensitive[0];
          const record: GatewayAuditRecord = {
            source: mutation ? 'MUTATION' : 'SENSITIVE_READ',
            actor: { kind: identity.via === 'api-key' ? 'API_KEY' : 'USER', id: identity.userId },
            roles: identity.roles,
            operationName: operation.name?.value ?? request.operationName ?? null,
            action: mutation ? `mutation.${first ?? 'unknown'}` : `read.${first}`,
            resourceType: mutation ? (first ? resourceTypeOf(first) : null) : (first?.split('.')[0] ?? null),
            resourceId: mutation ? resourceIdOf(request.variables) : null,
            outcome: errors.length > 0 ? 'FAILURE' : 'SUCCESS',
            errorCodes: [
              ...new Set(
                errors.map(({ extensions }) => (typeof extensions?.code === 'string' ? extensions.code : 'INTERNAL_SERVER_ERROR')),
              ),
            ],
            fields: mutation ? rootFields : sensitive,
            variables: boundedVariables(request.variables),
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
