import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

export interface GraphQLResponse<T> {
  status: number;
  headers: Headers;
  data?: T;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } & Record<string, unknown> }[];
}

export interface PostOptions<V> {
  variables?: V;
  token?: string;
  headers?: Record<string, string>;
}

const printed = new WeakMap<object, string>();

function source(document: string | TypedDocumentNode<unknown, unknown>): string {
  if (typeof document === 'string') return document;
  let text = printed.get(document);
  if (!text) printed.set(document, (text = print(document)));
  return text;
}

/**
 * A plain HTTP GraphQL client, so that tests see exactly what a web client sees. Given a typed
 * document (from the web client's generated operations), the result and variables are typed too.
 */
export async function postGraphQL<T = Record<string, unknown>, V = Record<string, unknown>>(
  url: string,
  document: string | TypedDocumentNode<T, V>,
  options: PostOptions<V> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query: source(document as TypedDocumentNode<unknown, unknown>), variables: options.variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status' | 'headers'>;
  return { status: response.status, headers: response.headers, ...body };
}
