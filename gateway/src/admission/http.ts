import { HttpError, type GraphQLHttpRequest } from '@nexusflow/kit/core';
import { GraphQLError } from 'graphql';
import type { Admission, GraphQLRequestParams } from './admission.ts';
import { OperationRefused } from './operation-limits.ts';

function jsonParam(params: URLSearchParams, name: string): unknown {
  const raw = params.get(name);
  if (raw === null) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    // Apollo Server answers a malformed parameter with its own BAD_REQUEST.
    return undefined;
  }
}

/**
 * Admits a GraphQL request that arrived over HTTP (a GET's query string or a POST's JSON body), refusing it with
 * HTTP 400 and the limit's code, or returning it with a trusted document's text in place of its id. A document that
 * does not parse goes on unchanged, for Apollo Server to answer with the parser's message and location.
 */
export function admitHttpRequest(
  admission: Admission,
  request: GraphQLHttpRequest,
  onRefused: (refusal: OperationRefused) => void,
  { knownOnly = false }: { knownOnly?: boolean } = {},
): GraphQLHttpRequest {
  try {
    if (request.method === 'GET') {
      const search = new URLSearchParams(request.search);
      const params: GraphQLRequestParams = {
        query: search.get('query') ?? undefined,
        variables: jsonParam(search, 'variables'),
        extensions: jsonParam(search, 'extensions'),
      };
      const admitted = admission.admit(params, { knownOnly });
      if (!admitted || admitted.params === params) return request;
      search.set('query', admitted.query);
      search.set('extensions', JSON.stringify(admitted.params.extensions ?? {}));
      return { ...request, search: `?${search.toString()}` };
    }
    if (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body)) return request;
    const params = request.body as GraphQLRequestParams;
    const admitted = admission.admit(params, { knownOnly });
    return admitted && admitted.params !== params ? { ...request, body: admitted.params } : request;
  } catch (error) {
    if (error instanceof OperationRefused) {
      onRefused(error);
      throw new HttpError(error.status, error.code, error.message, error.status === 503 ? { 'retry-after': '1' } : {});
    }
    if (error instanceof GraphQLError) return request;
    throw error;
  }
}
