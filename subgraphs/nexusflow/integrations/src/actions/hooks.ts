import { failureOfStatus, ProviderActionError, unreachable } from './provider-failure.ts';

/** What a hook answered a delivery with. */
export interface HookDelivery {
  status: number;
}

/**
 * Sends a JSON payload to a Zapier or Make hook URL, as their REST hooks expect: a POST of the payload itself. The
 * target was checked to be on the provider's host when it was connected; redirects are not followed, so it stays
 * there. 410 Gone is how Zapier says the hook was deleted: a refusal, until an admin connects a new one.
 */
export async function deliverToHook(
  providerName: string,
  targetUrl: string,
  payload: unknown,
  timeoutMs: number,
  now: () => number,
): Promise<HookDelivery> {
  let response: Response;
  try {
    response = await fetch(targetUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(payload ?? null),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
  } catch (error) {
    throw unreachable(providerName, error);
  }
  if (response.status >= 200 && response.status < 300) return { status: response.status };
  const failure = failureOfStatus(providerName, response, String(response.status), null, now());
  // A hook URL has no token to refresh: a 401 is a refusal like any other.
  if (failure instanceof ProviderActionError) throw failure;
  throw new ProviderActionError('REFUSED', `${providerName} refused the delivery: HTTP 401`, false, '401');
}
