import { ProviderError } from './types.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;

/** Long enough to say what the vendor objected to, short enough for a log line. */
const MAX_DETAIL_LENGTH = 200;

export interface ProviderRequest {
  /** Names the provider in error messages. */
  provider: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The only status that means the vendor accepted the message. */
  expectedStatus: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Credentials that must never appear in an error message, whatever the vendor echoes back. */
  secrets: string[];
}

export interface ProviderResponse {
  headers: Headers;
  text: string;
}

/**
 * POSTs to a vendor and answers its response only when it has the expected status; every other outcome
 * becomes a {@link ProviderError} classified once here, so that the three providers retry alike.
 * A caller's own abort is rethrown as it is: the caller gave up, the provider did not fail.
 */
export async function postToProvider(request: ProviderRequest): Promise<ProviderResponse> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  let status: number;
  let headers: Headers;
  let text: string;
  try {
    const response = await fetch(request.url, { method: 'POST', headers: request.headers, body: request.body, signal });
    status = response.status;
    headers = response.headers;
    text = await response.text();
  } catch (error) {
    if (request.signal?.aborted) throw request.signal.reason;
    if (timeout.aborted) throw new ProviderError(`${request.provider} did not answer within ${request.timeoutMs} ms`, true);
    throw new ProviderError(`${request.provider} is unreachable (${networkCause(error)})`, true);
  }
  if (status !== request.expectedStatus) throw failureFromResponse(request.provider, status, text, request.secrets);
  return { headers, text };
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Builds the error for a vendor's refusal, quoting its own explanation with any secret blanked out. */
export function failureFromResponse(provider: string, status: number, body: string, secrets: string[]): ProviderError {
  const detail = vendorMessage(body);
  const message = detail ? `${provider} answered ${status}: ${detail}` : `${provider} answered ${status}`;
  return new ProviderError(truncate(redact(message, secrets)), isRetryableStatus(status), status);
}

/** For an accepted request whose response lacks what identifies the message; resending could duplicate it. */
export function unexpectedResponse(provider: string, status: number, problem: string): ProviderError {
  return new ProviderError(`${provider} answered ${status} but ${problem}`, false, status);
}

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Understands SendGrid's `errors[].message`, Google's `error.message` and Twilio's `message`. */
function vendorMessage(body: string): string | undefined {
  const json = parseJsonObject(body);
  if (!json) return undefined;
  const errors = json.errors;
  if (Array.isArray(errors)) {
    const messages = errors.map((error: unknown) => stringField(error, 'message')).filter((message) => message !== undefined);
    if (messages.length > 0) return messages.join('; ');
  }
  return stringField(json.error, 'message') ?? stringField(json, 'message');
}

function stringField(value: unknown, field: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const candidate = (value as Record<string, unknown>)[field];
  return typeof candidate === 'string' && candidate !== '' ? candidate : undefined;
}

function redact(text: string, secrets: string[]): string {
  return secrets.filter((secret) => secret !== '').reduce((result, secret) => result.replaceAll(secret, '[redacted]'), text);
}

function truncate(text: string): string {
  return text.length <= MAX_DETAIL_LENGTH ? text : `${text.slice(0, MAX_DETAIL_LENGTH - 1)}…`;
}

/** fetch only says "fetch failed"; the system error code underneath is what an operator can act on. */
function networkCause(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'network error';
}
