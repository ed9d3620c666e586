/**
 * CRM sync throughput: records synced per second by the integrations subgraph against each CRM's fake over loopback.
 * A first sync pulls every CRM contact and pushes every NexusFlow contact; an incremental one pulls and pushes a
 * changed share of each. HubSpot: the list endpoint, then search, 100 a page; batch upsert and update. Salesforce:
 * SOQL in batches of 200 (the least it takes); sObject Collections of 200. Pipedrive: v2 lists of 100 a page; one record a request, with a
 * search before each creation. Zoho CRM: pages of 100 (the sync's page size); upsert and update 100 at a time.
 * Against the embedded storage mode, the real PostgreSQL, or both; stops by itself.
 *
 *   npm run bench:integrations-sync -- [--mode embedded|postgres|both] [--crm hubspot|salesforce|pipedrive|zoho|all]
 *     [--records 2000] [--json out.json]
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
import { FakePipedrive, FakeSalesforceCrm, FakeZoho } from '../subgraphs/nexusflow/integrations/test/support/fake-crms.ts';
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

const CRMS = ['hubspot', 'salesforce', 'pipedrive', 'zoho'] as const;
type CrmName = (typeof CRMS)[number];

/** A CRM's fake as the bench drives it: its provider, and contacts made and changed there. */
interface BenchCrm {
  provider: string;
  variablePrefix: string;
  fake: FakeHubSpot | FakeSalesforceCrm | FakePipedrive | FakeZoho;
  seed(index: number): string;
  change(id: string): void;
}

function benchCrm(name: CrmName): BenchCrm {
  switch (name) {
    case 'hubspot': {
      const fake = new FakeHubSpot('bench-client', 'bench-secret');
      return {
        provider: 'HUBSPOT',
        variablePrefix: 'HUBSPOT',
        fake,
        seed: (index) =>
          fake.crm.createContact({
            email: `crm-${index}@bench.example`,
            firstname: `First ${index}`,
            lastname: 'CRM',
            phone: '+1 555 0100',
          }),
        change: (id) => fake.crm.updateContact(id, { lastname: 'Changed at the CRM' }),
      };
    }
    case 'salesforce': {
      const fake = new FakeSalesforceCrm('bench-client', 'bench-secret');
      return {
        provider: 'SALESFORCE',
        variablePrefix: 'SALESFORCE',
        fake,
        seed: (index) =>
          fake.contacts.create({ Email: `crm-${index}@bench.example`, FirstName: `First ${index}`, LastName: 'CRM', Phone: '+1 555 0100' })
            .id,
        change: (id) => void fake.contacts.update(id, { LastName: 'Changed at the CRM' }),
      };
    }
    case 'pipedrive': {
      const fake = new FakePipedrive('bench-client', 'bench-secret');
      return {
        provider: 'PIPEDRIVE',
        variablePrefix: 'PIPEDRIVE',
        fake,
        seed: (index) =>
          fake.createPerson({ email: `crm-${index}@bench.example`, first_name: `First${index}`, last_name: 'CRM', phone: '+1 555 0100' }),
        change: (id) => fake.updatePerson(id, { last_name: 'Changed' }),
      };
    }
    case 'zoho': {
      const fake = new FakeZoho('bench-client', 'bench-secret');
      return {
        provider: 'ZOHO_CRM',
        variablePrefix: 'ZOHO_CRM',
        fake,
        seed: (index) =>
          fake.contacts.create({
            Email: `crm-${index}@bench.example`,
            First_Name: `First ${index}`,
            Last_Name: 'CRM',
            Phone: '+1 555 0100',
          }).id,
        change: (id) => void fake.contacts.update(id, { Last_Name: 'Changed at the CRM' }),
      };
    }
  }
}

interface Options {
  modes: StorageMode[];
  crms: CrmName[];
  records: number;
  json: string | undefined;
}

interface SyncFigure {
  mode: StorageMode;
  crm: CrmName;
  sync: 'first' | 'incremental';
  pulled: number;
  pushed: number;
  seconds: number;
  recordsPerSecond: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string' },
      crm: { type: 'string', default: 'hubspot' },
      records: { type: 'string', default: '2000' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const mode = values.mode ?? (testEnvironment.postgresUrl ? 'both' : 'embedded');
  if (mode !== 'both' && mode !== 'embedded' && mode !== 'postgres')
    throw new Error(`--mode must be embedded, postgres or both, got "${mode}"`);
  const crm = values.crm;
  if (crm !== 'all' && !(CRMS as readonly string[]).includes(crm)) throw new Error(`--crm must be ${CRMS.join(', ')} or all, got "${crm}"`);
  return {
    modes: mode === 'both' ? ['embedded', 'postgres'] : [mode],
    crms: crm === 'all' ? [...CRMS] : [crm as CrmName],
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

async function benchMode(mode: StorageMode, name: CrmName, records: number): Promise<SyncFigure[]> {
  const crm = benchCrm(name);
  await crm.fake.start();
  const under = await startIntegrationsUnderTest(mode, `bench_sync_${randomUUID().slice(0, 8)}`, {
    [`INTEGRATIONS_${crm.variablePrefix}_CLIENT_ID`]: crm.fake.clientId,
    [`INTEGRATIONS_${crm.variablePrefix}_CLIENT_SECRET`]: crm.fake.clientSecret,
    [`INTEGRATIONS_${crm.variablePrefix}_BASE_URL`]: crm.fake.origin,
  });
  try {
    const admin = callerOf(randomUUID(), [Role.Admin]);
    const connecting = await under.answer(admin, `mutation { connectIntegration(provider: ${crm.provider}) { authorizationUrl } }`);
    const { code, state } = await crm.fake.consent((connecting.connectIntegration as { authorizationUrl: string }).authorizationUrl);
    const connected = await under.answer(
      admin,
      'mutation ($state: String!, $code: String!) { completeIntegrationConnection(state: $state, code: $code) { ... on Integration { id } } }',
      { state, code },
    );
    const integrationId = (connected.completeIntegrationConnection as { id: string }).id;
    const half = Math.ceil(records / 2);
    const crmIds = Array.from({ length: half }, (_, index) => crm.seed(index));
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
    progress(`${mode}, ${name}: first sync of ${records} records`);
    const first = await timedSync(under, admin, integrationId);

    const changed = Math.round(half * CHANGED_SHARE);
    for (const id of crmIds.slice(0, changed)) crm.change(id);
    const local = await em.find(CrmContact, { tenantId: admin.tenantId, lastName: 'NexusFlow' }, { limit: changed });
    for (const contact of local) Object.assign(contact, { phone: '+1 555 0199', updatedAt: new Date() });
    await em.flush();
    progress(`${mode}, ${name}: incremental sync of ${changed * 2} changed records`);
    const incremental = await timedSync(under, admin, integrationId);
    return [
      { mode, crm: name, sync: 'first', ...figures(first) },
      { mode, crm: name, sync: 'incremental', ...figures(incremental) },
    ];
  } finally {
    await under.close();
    await crm.fake.close();
  }
}

const figures = ({ run, seconds }: { run: RunSnapshot; seconds: number }) => ({
  pulled: run.pulled,
  pushed: run.pushed,
  seconds: Number(seconds.toFixed(2)),
  recordsPerSecond: Math.round((run.pulled + run.pushed) / seconds),
});

const options = parseOptions();
startWatchdog(SYNC_BUDGET_MS * 4 * options.modes.length * options.crms.length);
const results: SyncFigure[] = [];
for (const mode of options.modes) for (const crm of options.crms) results.push(...(await benchMode(mode, crm, options.records)));
console.log(
  formatTable(
    ['mode', 'crm', 'sync', 'pulled', 'pushed', 'seconds', 'records/s'],
    results.map((result) => [
      result.mode,
      result.crm,
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
