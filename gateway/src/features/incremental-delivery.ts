import { HeaderMap, type ApolloServer, type HTTPGraphQLResponse } from '@apollo/server';
import { transformIterator } from '@nexusflow/kit/core';
import { OperationTypeNode, type ExecutionResult } from 'graphql';
import type { GatewayContext } from '../context.ts';
import {
  acceptsIncrementalDelivery,
  offerIncrementalDelivery,
  type IncrementalDelivery,
  type SubsequentPayload,
} from '../execution/defer.ts';
import type { PreparedStreamingOperation, StreamingOperations } from '../subscriptions/operations.ts';

/** The response type of incremental delivery over HTTP, as Apollo Router and Apollo Server send it. */
const MULTIPART_DEFER = 'multipart/mixed; boundary="-"; deferSpec=20220824';
const PART_HEADER = 'content-type: application/json; charset=utf-8\r\n\r\n';

/** The parts of a multipart response: the first result, then each payload, the boundary closed after the last. */
async function* multipartBody(initial: string, subsequent: AsyncIterableIterator<SubsequentPayload>): AsyncGenerator<string> {
  const first = { ...(JSON.parse(initial) as object), hasNext: true };
  yield `\r\n---\r\n${PART_HEADER}${JSON.stringify(first)}\r\n---\r\n`;
  let hasNext = true;
  try {
    for await (const payload of subsequent) {
      hasNext = payload.hasNext;
      yield `${PART_HEADER}${JSON.stringify(payload)}\r\n---${hasNext ? '' : '--'}\r\n`;
      if (!hasNext) return;
    }
    if (hasNext) yield `${PART_HEADER}${JSON.stringify({ hasNext: false })}\r\n-----\r\n`;
  } finally {
    await subsequent.return?.();
  }
}

/**
 * Apollo Server over HTTP, with `@defer` delivered incrementally to clients that accept
 * `multipart/mixed;deferSpec=20220824` (Apollo Client's HttpLink does for documents using @defer). Apollo Server 5
 * streams only what graphql 17 executes, never a gateway's results: here the request passes Apollo Server (and its
 * plugins, limits and validation) as any other, the executor answers the primary block, and the deferred payloads
 * follow as parts of the same response. Every other request, and a deferring one from a client without multipart,
 * is answered as before (the latter all at once).
 */
export function withIncrementalDelivery(apollo: ApolloServer<GatewayContext>): ApolloServer<GatewayContext> {
  const executeHTTPGraphQLRequest: ApolloServer<GatewayContext>['executeHTTPGraphQLRequest'] = async (request) => {
    if (!acceptsIncrementalDelivery(request.httpGraphQLRequest.headers.get('accept'))) return apollo.executeHTTPGraphQLRequest(request);
    let delivery: IncrementalDelivery | undefined;
    const response = await apollo.executeHTTPGraphQLRequest({
      ...request,
      context: async () => {
        const context = await request.context();
        delivery = offerIncrementalDelivery(context);
        return context;
      },
    });
    const subsequent = delivery?.subsequent;
    if (!subsequent) return response;
    if (response.body.kind !== 'complete') {
      await subsequent.return?.();
      return response;
    }
    const headers = new HeaderMap([...response.headers].filter(([name]) => name !== 'content-length'));
    headers.set('content-type', MULTIPART_DEFER);
    headers.set('cache-control', 'no-cache');
    const streamed: HTTPGraphQLResponse = {
      ...response,
      headers,
      body: { kind: 'chunked', asyncIterator: multipartBody(response.body.string, subsequent) },
    };
    return streamed;
  };
  return Object.assign(Object.create(apollo) as ApolloServer<GatewayContext>, { executeHTTPGraphQLRequest });
}

/**
 * Runs a query or mutation for a streaming transport (graphql-ws, Server-Sent Events) with `@defer` delivered
 * incrementally: the first result with `hasNext: true`, then each deferred payload, as messages of that operation.
 */
export async function runDeferring(
  operations: StreamingOperations,
  prepared: PreparedStreamingOperation,
): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  if (prepared.kind === OperationTypeNode.SUBSCRIPTION) return operations.run(prepared);
  const delivery = offerIncrementalDelivery(prepared.context);
  const result = await operations.run(prepared);
  const subsequent = delivery.subsequent;
  if (!subsequent) return result;
  if (Symbol.asyncIterator in result) {
    await subsequent.return?.();
    return result;
  }
  // The payloads after the first carry no `data` of their own; transports send them as they send any result.
  return transformIterator<SubsequentPayload, ExecutionResult>(subsequent, (payload) => payload as ExecutionResult, {
    first: [{ ...result, hasNext: true } as ExecutionResult],
  });
}
