import { postGraphQL, type GraphQLResponse } from '@nexusflow/kit/testing';
import type { Stack } from './stack.ts';

/** Sends `document` through the stack's gateway as the holder of `token`; fails the test on a transport-level error. */
export async function ask<T = Record<string, any>>(
  stack: Stack,
  token: string,
  document: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResponse<T>> {
  const response = await postGraphQL<T>(stack.gateway.graphqlUrl, document, { token, variables });
  if (response.status >= 500) throw new Error(`gateway answered ${response.status}: ${JSON.stringify(response.errors)}`);
  return response;
}

/** The codes of a response's errors, e.g. ['FORBIDDEN']. */
export function errorCodes(response: GraphQLResponse<unknown>): (string | undefined)[] {
  return (response.errors ?? []).map((error) => error.extensions?.code);
}

/** The ids of a list of objects from a response, e.g. `notifications { id }`. */
export function idsOf(list: unknown): string[] {
  if (!Array.isArray(list)) throw new Error(`expected a list, got ${JSON.stringify(list)}`);
  return list.map((item: { id: string }) => item.id);
}
