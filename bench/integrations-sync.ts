/**
 * CRM sync throughput: records synced per second by the integrations subgraph against the HubSpot fake over loopback.
 * A first sync pulls every HubSpot contact (the list endpoint, 100 a page) and pushes every NexusFlow contact (batch
 * upsert); an incremental one pulls and pushes a changed share of each (the search endpoint, batch update). Against the
 * embedded storage mode, the real PostgreSQL, or both; stops by itself.
 *
 *   npm run bench:integrations-sync -- [--mode embedded|postgres|both] [--records 2000] [--json out.json]
 */
import { formatTable, machineFacts, positiveInteger, progress, startWatchdog, within } from './support.ts';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Role, systemFork } from '@nexusflow/kit';
import { testEnvironment, type StorageMode } from '@nexusflow/kit/testing';
import { CrmContact } from '../subgraphs/nexusflow/integrations/src/entities/crm-contact.entity.ts';
import {
  syncProgressTopic,
  type RunSnapshot,
  type SyncProgressUpdate,
} from '../subgraphs/nexusflow/integrations/src/domain/sync/sync-engine.ts';
import { FakeHubSpot } from '../subgraphs/nexusflow/integrations/test/support/fake-providers.ts';
import {
  callerOf,
  startIntegrationsUnderTest,
  type Caller,
  type IntegrationsUnderTest,
} from '../subgraphs/nexusflow/integrations/test/support/integrations-under-test.ts';

const SYNC_BUDGET_MS = 300_000;
/** The share of each side changed before the incremental sync. */
const CHANGED_SHARE = 0.25;

interface Options {
  modes: StorageMode[];
  records: number;
  json: string | undefined;
}

interface SyncFigure {
  mode: StorageMode;
  sync: 'first' | 'incremental';
  pulled: number;
  pushed: number;
  seconds: number;
  recordsPerSecond: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: { mode: { type: 'string' }, records: { type: 'string', default: '2000' }, json: { type: 'string' } },
    strict: true,
  });
  const mode = values.mode ?? (testEnvironment.postgresUrl ? 'both' : 'embedded');
  if (mode !== 'both' && mode !== 'embedded' && mode !== 'postgres')
    throw new Error(`--mode must be embedded, postgres or both, got "${mode}"`);
  return {
    modes: mode === 'both' ? ['embedded', 'postgres'] : [mode],
    records: positiveInteger('records', values.records),
    json: values.json,
  };
}

async function timedSync(
  under: IntegrationsUnderTest,
  admin: Caller,
  integrationId: string,
): Promise<{ run: RunSnapshot; seconds: number }> {
  const topic = syncProgressTopic(integrationId);
  const updates = under.subgraph.pubsub.subscribe<SyncProgressUpdate>(topic);
  await under.subgraph.pubsub.subscribed(topic);
  const started = performance.now();
  const queued = await under.answer(admin, 'mutation ($id: ID!) { syncIntegration(id: $id) { ... on SyncRun { id } } }', {
    id: integrationId,
  });
  const runId = (queued.syncIntegration as { id: string }).id;
  const finished = (async () => {
    for await (const update of updates) {
      if (update.run.id === runId && (update.run.status === 'COMPLETED' || update.run.status === 'FAILED')) return update.run;
    }
    throw new Error('the progress ended before the run');
  })();
  const run = await within(finished, SYNC_BUDGET_MS, 'the sync');
  const seconds = (performance.now() - started) / 1000;
  await updates.return?.();
  if (run.status !== 'COMPLETED') throw new Error(`the sync failed: ${run.error}`);
  return { run, seconds };
}

async function benchMode(mode: StorageMode, records: number): Promise<SyncFigure[]> {
  const hubspot = await new FakeHubSpot('bench-client', 'bench-secret').start();
  const under = await startIntegrationsUnderTest(mode, `bench_sync_${randomUUID().slice(0, 8)}`, {
    INTEGRATIONS_HUBSPOT_CLIENT_ID: hubspot.clientId,
    INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
    INTEGRATIONS_HUBSPOT_BASE_URL: hubspot.origin,
  });
  try {
    const admin = callerOf(randomUUID(), [Role.Admin]);
    const connecting = await under.answer(admin, 'mutation { connectIntegration(provider: HUBSPOT) { authorizationUrl } }');
    const { code, state } = await hubspot.consent((connecting.connectIntegration as { authorizationUrl: string }).authorizationUrl);
    const connected = await under.answer(
      admin,
      'mutation ($state: String!, $code: String!) { completeIntegrationConnection(state: $state, code: $code) { ... on Integration { id } } }',
      { state, code },
    );
    const integrationId = (connected.completeIntegrationConnection as { id: string }).id;
    const half = Math.ceil(records / 2);
    const hubspotIds = Array.from({ length: half }, (_, index) =>
      hubspot.crm.createContact({
        email: `hs-${index}@bench.example`,
        firstname: `First ${index}`,
        lastname: 'HubSpot',
        phone: '+1 555 0100',
      }),
    );
    const em = systemFork(under.subgraph.database);
    for (let index = 0; index < records - half; index += 1) {
      em.create(CrmContact, {
        tenantId: admin.tenantId,
        updatedAt: new Date(),
        email: `nf-${index}@bench.example`,
        firstName: `First ${index}`,
        lastName: 'NexusFlow',
        phone: null,
        company: 'Bench Inc',
        custom: {},
      });
    }
    await em.flush();
    progress(`${mode}: first sync of ${records} records`);
    const first = await timedSync(under, admin, integrationId);

    const changed = Math.round(half * CHANGED_SHARE);
    for (const id of hubspotIds.slice(0, changed)) hubspot.crm.updateContact(id, { lastname: 'Changed at HubSpot' });
    const local = await em.find(CrmContact, { tenantId: admin.tenantId, lastName: 'NexusFlow' }, { limit: changed });
    for (const contact of local) Object.assign(contact, { company: 'Changed Inc', updatedAt: new Date() });
    await em.flush();
    progress(`${mode}: incremental sync of ${changed * 2} changed records`);
    const incremental = await timedSync(under, admin, integrationId);
    return [
      { mode, sync: 'first', ...figures(first) },
      { mode, sync: 'incremental', ...figures(incremental) },
    ];
  } finally {
    await under.close();
    await hubspot.close();
  }
}

const figures = ({ run, seconds }: { run: RunSnapshot; seconds: number }) => ({
  pulled: run.pulled,
  pushed: run.pushed,
  seconds: Number(seconds.toFixed(2)),
  recordsPerSecond: Math.round((run.pulled + run.pushed) / seconds),
});

const options = parseOptions();
startWatchdog(SYNC_BUDGET_MS * 4 * options.modes.length);
const results: SyncFigure[] = [];
for (const mode of options.modes) results.push(...(await benchMode(mode, options.records)));
console.log(
  formatTable(
    ['mode', 'sync', 'pulled', 'pushed', 'seconds', 'records/s'],
    results.map((result) => [
      result.mode,
      result.sync,
      String(result.pulled),
      String(result.pushed),
      result.seconds.toFixed(2),
      String(result.recordsPerSecond),
    ]),
  ),
);
if (options.json) await writeFile(options.json, JSON.stringify({ machine: machineFacts(), records: options.records, results }, null, 2));
process.exit(0);
