import { failureOfStatus, unreachable } from './provider-failure.ts';

/** Reads a provider's error body into its code and message; null for either it does not give. */
export type ErrorReader = (body: unknown) => { code: string | null; message: string | null };

export interface RestCall {
  providerName: string;
  url: URL;
  accessToken: string;
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs: number;
  readError: ErrorReader;
  now: () => number;
}

/**
 * One request to a provider's JSON REST API with a bearer token, its failures read into {@link ProviderActionError}s
 * (or a {@link TokenRejected} for a 401). Redirects are not followed: none of these APIs answers with one.
 */
export async function callRest<T>(call: RestCall): Promise<T> {
  let response: Response;
  try {
    response = await fetch(call.url, {
      method: call.method ?? 'GET',
      headers: {
        authorization: `Bearer ${call.accessToken}`,
        accept: 'application/json',
        ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...call.headers,
      },
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      redirect: 'manual',
      signal: AbortSignal.timeout(call.timeoutMs),
    });
  } catch (error) {
    throw unreachable(call.providerName, error);
  }
  // 204 No Content: Graph's DELETE, Gmail's users.stop.
  if (response.status === 204) return undefined as T;
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    if (response.ok) throw unreachable(call.providerName, error);
    body = null;
  }
  if (response.ok) return body as T;
  const { code, message } = call.readError(body);
  throw failureOfStatus(call.providerName, response, code, message, call.now());
}
