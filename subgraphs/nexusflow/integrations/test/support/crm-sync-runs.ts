import { expect } from 'vitest';
import { syncProgressTopic, type RunSnapshot, type SyncProgressUpdate } from '../../src/domain/sync/sync-engine.ts';
import type { Caller, IntegrationsUnderTest } from './integrations-under-test.ts';

const CONNECT = 'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { __typename ... on Integration { id } ... on IntegrationConnectionFailed { message } }
}`;

/** A provider's fake consenting in the admin's browser: the redirect's code and state. */
export type Consent = (authorizationUrl: string) => Promise<{ code: string; state: string }>;

/** Connects `provider` for the admin's tenant through its OAuth flow against its fake; the integration's id. */
export async function connectByOAuth(under: IntegrationsUnderTest, admin: Caller, provider: string, consent: Consent): Promise<string> {
  const { authorizationUrl } = (await under.answer(admin, CONNECT, { provider })).connectIntegration;
  const { code, state } = await consent(authorizationUrl as string);
  const completed = (await under.answer(admin, COMPLETE, { state, code })).completeIntegrationConnection;
  expect(completed.__typename).toBe('Integration');
  return completed.id as string;
}

/**
 * Starts a sync with `syncDocument` (a syncIntegration mutation taking `$id`) and waits for its end, as a syncProgress
 * subscriber would see it.
 */
export async function syncToTheEnd(
  under: IntegrationsUnderTest,
  admin: Caller,
  integrationId: string,
  syncDocument: string,
): Promise<RunSnapshot> {
  const topic = syncProgressTopic(integrationId);
  const updates = under.subgraph.pubsub.subscribe<SyncProgressUpdate>(topic);
  await under.subgraph.pubsub.subscribed(topic);
  const started = (await under.answer(admin, syncDocument, { id: integrationId })).syncIntegration;
  expect(started).toMatchObject({ __typename: 'SyncRun', status: 'QUEUED' });
  try {
    for await (const update of updates) {
      if (update.run.id === started.id && (update.run.status === 'COMPLETED' || update.run.status === 'FAILED')) return update.run;
    }
  } finally {
    await updates.return?.();
  }
  throw new Error('the progress ended before the run');
}
