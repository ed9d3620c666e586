import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderRequestError } from './adapter.ts';

/** An access token for the integration; `rejected` is the one the CRM just refused, to be refreshed. */
export type TokenSource = (rejected?: string) => Promise<string>;

/** What a CRM's answer other than a success means to the request loop. */
export type FailureVerdict =
  /** The access token was refused: refresh it once and send again. */
  | { kind: 'refresh' }
  /** A limit that lifts soon: wait `delayMs`, then send again (as many times in a row as allowed). */
  | { kind: 'wait'; delayMs: number }
  /** Give up: `retryable` when a later attempt of the job may work. */
  | { kind: 'fail'; message: string; retryable: boolean };

export interface ProviderHttpOptions {
  /** As people write it, for messages: "Salesforce". */
  provider: string;
  token: TokenSource;
  timeoutMs: number;
  /** How many waits in a row one request accepts before giving up (retryable) for a later attempt of the job. */
  maxRateLimitRetries: number;
  /** Waits that long; tests see the waits through it. */
  wait?: (ms: number) => Promise<void>;
  /** The `Authorization` header's value for a token; `Bearer <token>` unless the CRM has its own scheme. */
  authorization?: (token: string) => string;
  /**
   * What a failed answer means: its status, headers, body (parsed when JSON) and how many waits came before it in a
   * row. Without a verdict, 401 refreshes, 429 waits `Retry-After` (or an exponential pause), and anything else fails
   * with the body's `message`, retryable for 429 and 5xx.
   */
  judge?: (failure: ProviderFailure) => FailureVerdict | undefined;
}

export interface ProviderFailure {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
  attempt: number;
}

export interface ProviderAnswer<T> {
  status: number;
  headers: Headers;
  /** Null for answers without a body (204, 304). */
  body: T | null;
}

/** `Retry-After` in milliseconds, in seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(at - now, 0);
}

/** The pause before the `attempt`-th retry when the CRM says nothing of how long: 250 ms doubling, at most 10 s. */
export const backoffMs = (attempt: number) => Math.min(250 * 2 ** attempt, 10_000);

/** A message a CRM's error body carries, in its words: `message`, `error`, or the start of the text. */
export function messageOf(body: unknown, text: string): string {
  const first = Array.isArray(body) ? (body[0] as unknown) : body;
  if (first && typeof first === 'object') {
    const { message, error, error_description: description } = first as Record<string, unknown>;
    for (const candidate of [message, description, error]) if (typeof candidate === 'string' && candidate !== '') return candidate;
  }
  return text.slice(0, 200);
}

function defaultVerdict(failure: ProviderFailure): FailureVerdict {
  if (failure.status === 401) return { kind: 'refresh' };
  if (failure.status === 429) return { kind: 'wait', delayMs: retryAfterMs(failure.headers) ?? backoffMs(failure.attempt) };
  return {
    kind: 'fail',
    message: messageOf(failure.body, failure.text),
    retryable: failure.status >= 500,
  };
}

/**
 * One CRM's JSON API as the sync reaches it: the integration's token on every request, a refused token refreshed once,
 * rate limits waited out as the CRM's headers say (up to a number of waits in a row), and failures as
 * {@link ProviderRequestError} in the CRM's words: retryable when a later attempt may work (5xx, unreachable, rate
 * limits outlasting the waits).
 */
export class ProviderHttp {
  private readonly wait: (ms: number) => Promise<void>;

  constructor(private readonly options: ProviderHttpOptions) {
    this.wait = options.wait ?? ((ms) => sleep(ms));
  }

  /** The answer's body; null for an answer without one. */
  async json<T>(method: string, url: URL, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return (await this.send<T>(method, url, body, headers)).body as T;
  }

  async send<T>(method: string, url: URL, body?: unknown, headers: Record<string, string> = {}): Promise<ProviderAnswer<T>> {
    const { provider } = this.options;
    const authorization = this.options.authorization ?? ((token: string) => `Bearer ${token}`);
    let token = await this.options.token();
    let refreshed = false;
    for (let waited = 0; ;) {
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: {
            authorization: authorization(token),
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...headers,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
      } catch (error) {
        throw new ProviderRequestError(`${provider} could not be reached: ${error instanceof Error ? error.message : String(error)}`, true);
      }
      const text = await response.text();
      let parsed: unknown = null;
      try {
        parsed = text === '' ? null : JSON.parse(text);
      } catch {
        // Not JSON (an HTML error page of a proxy): its text says enough.
      }
      if (response.ok || response.status === 304) {
        return { status: response.status, headers: response.headers, body: parsed as T | null };
      }
      const failure = { status: response.status, headers: response.headers, body: parsed, text, attempt: waited };
      const verdict = this.options.judge?.(failure) ?? defaultVerdict(failure);
      if (verdict.kind === 'refresh' && !refreshed) {
        refreshed = true;
        token = await this.options.token(token);
        continue;
      }
      if (verdict.kind === 'wait' && waited < this.options.maxRateLimitRetries) {
        await this.wait(verdict.delayMs);
        waited += 1;
        continue;
      }
      const message = verdict.kind === 'fail' ? verdict.message : messageOf(parsed, text);
      throw new ProviderRequestError(
        `${provider} answered ${response.status}: ${message}`,
        verdict.kind === 'wait' || (verdict.kind === 'fail' && verdict.retryable),
        response.status,
      );
    }
  }
}

/**
 * The origin of the account's API, as the CRM's token answer named it (Salesforce `instance_url`, Pipedrive's and
 * Zoho's `api_domain`), or `fallback`. Only HTTPS, unless the provider's base URL points at a local stand-in.
 */
export function apiOrigin(apiBaseUrl: string | null, fallback: string | null, providerOverridden: boolean, provider: string): string {
  const chosen = apiBaseUrl ?? fallback;
  if (chosen === null) throw new ProviderRequestError(`${provider} did not say where this account's API is: connect it again`, false);
  const url = new URL(chosen);
  if (url.protocol !== 'https:' && !providerOverridden) {
    throw new ProviderRequestError(`${provider} named an API address that is not HTTPS: ${url.origin}`, false);
  }
  return url.origin;
}

/** Values as most CRMs take them in JSON: an empty string clears a field, which they spell null. */
export const nullIfEmpty = (properties: Readonly<Record<string, string>>): Record<string, string | null> =>
  Object.fromEntries(Object.entries(properties).map(([name, value]) => [name, value === '' ? null : value]));

/** A CRM's scalar value as the sync's strings; null when empty, or not a scalar. */
export function textOf(value: unknown): string | null {
  if (typeof value === 'string') return value === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

/** Splits `items` into runs of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const runs: T[][] = [];
  for (let start = 0; start < items.length; start += size) runs.push(items.slice(start, start + size));
  return runs;
}
