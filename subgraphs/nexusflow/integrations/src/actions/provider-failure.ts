import type { EntityManager } from '@nexusflow/kit';
import { IntegrationTokenError, type Connections } from '../domain/connections.ts';

/** Why a provider action failed, as the API reports it. */
export type ActionFailureReason = 'UNSUPPORTED' | 'NOT_CONNECTED' | 'TOKEN_EXPIRED' | 'RATE_LIMITED' | 'UNAVAILABLE' | 'REFUSED';

/**
 * A provider did not do what it was asked. `retryable` says whether asking again later may work: a rate limit, a
 * provider's 5xx, a network failure may; a channel that does not exist, a bot not in the channel, a grant the account
 * revoked will not.
 */
export class ProviderActionError extends Error {
  override readonly name = 'ProviderActionError';

  constructor(
    readonly reason: ActionFailureReason,
    message: string,
    readonly retryable: boolean,
    /** The provider's own code of the error (`channel_not_found`, `ErrorItemNotFound`, an HTTP status); null when it gave none. */
    readonly providerError: string | null = null,
    /** How long the provider asked to wait, from its Retry-After. */
    readonly retryAfterSeconds: number | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The provider refused the access token: the action is tried once more with a refreshed one. */
export class TokenRejected extends Error {
  override readonly name = 'TokenRejected';

  constructor(
    readonly providerError: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Runs `action` with the integration's access token, and once more with a refreshed one when the provider rejects it.
 * A token that cannot be had, or is rejected twice, becomes the action's failure: retryable only when the provider could
 * not be reached, since a revoked grant needs an admin to connect again.
 */
export async function withAccessToken<T>(
  connections: Pick<Connections, 'accessToken'>,
  em: EntityManager,
  integrationId: string,
  action: (accessToken: string) => Promise<T>,
): Promise<T> {
  const token = async (rejected?: string) => {
    try {
      return await connections.accessToken(em, integrationId, rejected);
    } catch (error) {
      if (!(error instanceof IntegrationTokenError)) throw error;
      const reachable = error.reason !== 'PROVIDER_UNREACHABLE';
      throw new ProviderActionError(reachable ? error.reason : 'UNAVAILABLE', error.message, !reachable, null, null, { cause: error });
    }
  };
  const first = await token();
  try {
    return await action(first);
  } catch (error) {
    if (!(error instanceof TokenRejected)) throw error;
    const refreshed = await token(first);
    try {
      return await action(refreshed);
    } catch (again) {
      if (!(again instanceof TokenRejected)) throw again;
      throw new ProviderActionError('TOKEN_EXPIRED', `${again.message}; an admin must connect it again`, false, again.providerError);
    }
  }
}

/** Seconds from a Retry-After header (seconds or an HTTP date); null when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now: number): number | null {
  if (header === null) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * What an HTTP status from a REST API means for the action: 429 is a rate limit and 5xx an outage (both retryable),
 * 401 a token to refresh, anything else a refusal that the same request would meet again.
 */
export function failureOfStatus(
  providerName: string,
  response: { status: number; headers: Headers },
  providerError: string | null,
  providerMessage: string | null,
  now: number,
): ProviderActionError | TokenRejected {
  const words = providerMessage ?? providerError ?? `HTTP ${response.status}`;
  if (response.status === 401) return new TokenRejected(providerError ?? '401', `${providerName}: ${words}`);
  if (response.status === 429) {
    const wait = retryAfterSeconds(response.headers.get('retry-after'), now);
    return new ProviderActionError(
      'RATE_LIMITED',
      `${providerName} is rate limiting requests: ${words}`,
      true,
      providerError ?? '429',
      wait,
    );
  }
  if (response.status >= 500) {
    return new ProviderActionError(
      'UNAVAILABLE',
      `${providerName} could not answer: ${words}`,
      true,
      providerError ?? String(response.status),
    );
  }
  return new ProviderActionError(
    'REFUSED',
    `${providerName} refused the request: ${words}`,
    false,
    providerError ?? String(response.status),
  );
}

/** The network failed, or the provider took longer than the deployment allows. */
export function unreachable(providerName: string, error: unknown): ProviderActionError {
  const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
  const message = timedOut ? `${providerName} did not answer in time` : `${providerName} could not be reached`;
  return new ProviderActionError('UNAVAILABLE', message, true, null, null, { cause: error });
}
