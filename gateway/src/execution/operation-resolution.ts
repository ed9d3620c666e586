import { Kind, GraphQLError, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { ErrorCode } from '@nexusflow/kit/core';

/**
 * The operation a request names, or the document's only one. Apollo Server answers an unresolvable operation with
 * HTTP 400 and OPERATION_RESOLUTION_FAILURE; so do we, before anything is estimated or planned.
 */
export function resolveOperation(document: DocumentNode, operationName: string | undefined): OperationDefinitionNode {
  const operations = document.definitions.filter(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName
    ? operations.find(({ name }) => name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (operation) return operation;
  throw new GraphQLError(
    operationName ? `Unknown operation named "${operationName}".` : 'Must provide operation name if query contains multiple operations.',
    {
      extensions: { code: ErrorCode.OperationResolutionFailure, http: { status: 400 } },
    },
  );
}
