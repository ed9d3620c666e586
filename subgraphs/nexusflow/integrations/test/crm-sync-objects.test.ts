import { randomUUID } from 'node:crypto';
import { setTimeout as pause } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { SyncEngine, type RunSnapshot } from '../src/domain/sync/sync-engine.ts';
import { FakeHubSpot } from './support/fake-providers.ts';
import { connectByOAuth, syncToTheEnd } from './support/crm-sync-runs.ts';
import { callerOf, startIntegrationsUnderTest, type Caller, type IntegrationsUnderTest } from './support/integrations-under-test.ts';

const PAGE_SIZE = 2;
const LEASE_SECONDS = 30;

const COMPANY = 'id name domain industry phone custom links { integrationId externalId }';
const DEAL = `id name amount currency stage closeDate custom links { externalId } company { ${COMPANY} }`;
const COMPANIES = `{ crmCompanies(first: 100) { nodes { ${COMPANY} } hasNextPage } }`;
const DEALS = `{ crmDeals(first: 100) { nodes { ${DEAL} } hasNextPage } }`;
const SAVE_COMPANY = `mutation ($input: CrmCompanyInput!) { saveCrmCompany(input: $input) { ${COMPANY} } }`;
const SAVE_DEAL = `mutation ($input: CrmDealInput!) { saveCrmDeal(input: $input) { ${DEAL} } }`;
const CONTACTS = '{ crmContacts(first: 100) { nodes { id email links { externalId } } } }';
const DEAL_MAPPINGS = `query ($integrationId: ID!) {
  fieldMappings(integrationId: $integrationId, objectType: DEAL) { mappings { source target direction } conflictPolicy saved }
}`;
const SAVE_DEAL_MAPPINGS = `mutation ($integrationId: ID!, $mappings: [FieldMappingInput!]!, $conflictPolicy: ConflictPolicy!) {
  saveFieldMappings(integrationId: $integrationId, objectType: DEAL, mappings: $mappings, conflictPolicy: $conflictPolicy) {
    __typename
    ... on FieldMappingSet { objectType conflictPolicy saved }
    ... on InvalidFieldMappings { problems { index field message } }
  }
}`;
const SYNC = `mutation ($id: ID!) {
  syncIntegration(id: $id) { __typename ... on SyncRun { id status objects { objectType pulled pushed conflicts } } }
}`;
const CONFLICTS = `query ($integrationId: ID!) {
  syncConflicts(integrationId: $integrationId) { id objectType recordId externalId nexusflowValues providerValues }
}`;
const RESOLVE = `mutation ($id: ID!, $choice: ConflictChoice!) {
  resolveSyncConflict(id: $id, choice: $choice) {
    __typename
    ... on SyncRecordConflictResolved { choice record { __typename ... on CrmDeal { name amount company { name } } } }
  }
}`;

const DEFAULT_DEAL_MAPPINGS = [
  { source: 'dealname', target: 'name', direction: 'BOTH' },
  { source: 'amount', target: 'amount', direction: 'BOTH' },
  { source: 'deal_currency_code', target: 'currency', direction: 'BOTH' },
  { source: 'dealstage', target: 'stage', direction: 'BOTH' },
  { source: 'closedate', target: 'closeDate', direction: 'BOTH' },
];

/**
 * Companies and deals synced both ways with HubSpot (its CRM v3 objects, and the v4 associations between deals and
 * companies), after contacts and in that order; and the sync's guards: one active run per integration, and a worker's
 * lease on the run it works on.
 */
describe('CRM sync of companies and deals with HubSpot', () => {
  const hubspot = new FakeHubSpot('hubspot-client', 'hubspot-secret');

  beforeAll(async () => {
    await hubspot.start();
  });

  afterAll(async () => {
    await hubspot.close();
  });

  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let under: IntegrationsUnderTest;
    /** Real time, moved on by a test to make a lease lapse. */
    const clock = {
      offset: 0,
      get now() {
        return Date.now() + this.offset;
      },
    };

    beforeAll(async () => {
      under = await startIntegrationsUnderTest(
        mode,
        'crm_sync_objects',
        {
          INTEGRATIONS_HUBSPOT_CLIENT_ID: hubspot.clientId,
          INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
          INTEGRATIONS_HUBSPOT_BASE_URL: hubspot.origin,
          INTEGRATIONS_SYNC_PAGE_SIZE: String(PAGE_SIZE),
          INTEGRATIONS_SYNC_RETRY_DELAY_MS: '0',
          INTEGRATIONS_SYNC_LEASE_SECONDS: String(LEASE_SECONDS),
          // A page HubSpot leaves unanswered fails after this, long enough for a test to act while a worker waits on it.
          INTEGRATIONS_PROVIDER_TIMEOUT_SECONDS: '3',
        },
        clock,
      );
    });

    afterAll(async () => {
      await under?.close();
    });

    beforeEach(() => hubspot.crm.reset());

    const connectHubSpot = (admin: Caller) => connectByOAuth(under, admin, 'HUBSPOT', (url) => hubspot.consent(url));
    const sync = (admin: Caller, integrationId: string) => syncToTheEnd(under, admin, integrationId, SYNC);

    /** The run's row once it ended, polled: some of these runs end in a worker the test does not hear from. */
    async function ended(runId: string): Promise<Record<string, any>> {
      for (;;) {
        const [run] = await under.rows('select * from crm_sync_runs where id = ?', [runId]);
        if (run && ['COMPLETED', 'FAILED'].includes(run.status)) return run;
        await pause(20);
      }
    }

    const countsOf = (run: RunSnapshot) =>
      Object.fromEntries(run.objects.map(({ objectType, pulled, pushed, conflicts }) => [objectType, { pulled, pushed, conflicts }]));
    const companiesOf = async (caller: Caller) => (await under.answer(caller, COMPANIES)).crmCompanies.nodes as Record<string, any>[];
    const dealsOf = async (caller: Caller) => (await under.answer(caller, DEALS)).crmDeals.nodes as Record<string, any>[];
    const named = (records: Record<string, any>[], name: string) => records.find((record) => record.name === name);

    it('syncs companies and deals both ways, each deal linked to its company on both sides', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const acme = hubspot.crm.createCompany({ name: 'Acme', domain: 'acme.example', industry: 'MANUFACTURING' });
      const renewal = hubspot.crm.createDeal(
        {
          dealname: 'Acme renewal',
          amount: '1500.00',
          deal_currency_code: 'EUR',
          dealstage: 'appointmentscheduled',
          closedate: '2027-03-01T00:00:00.000Z',
        },
        acme,
      );
      const integrationId = await connectHubSpot(admin);
      expect((await under.answer(admin, DEAL_MAPPINGS, { integrationId })).fieldMappings).toEqual({
        mappings: DEFAULT_DEAL_MAPPINGS,
        conflictPolicy: 'NEWEST_WINS',
        saved: false,
      });
      const globex = (
        await under.answer(admin, SAVE_COMPANY, { input: { name: 'Globex', domain: 'globex.example', phone: '+1 555 0100' } })
      ).saveCrmCompany;
      const pilot = (
        await under.answer(admin, SAVE_DEAL, {
          input: {
            name: 'Globex pilot',
            amount: '250.50',
            currency: 'USD',
            stage: 'qualifiedtobuy',
            closeDate: '2027-01-15',
            companyId: globex.id,
          },
        })
      ).saveCrmDeal;
      expect(pilot).toMatchObject({ amount: '250.5', closeDate: '2027-01-15', company: { id: globex.id, name: 'Globex' } });

      const first = await sync(admin, integrationId);

      expect(first).toMatchObject({ status: 'COMPLETED', pulled: 2, pushed: 2, conflicts: 0 });
      expect(countsOf(first)).toEqual({
        CONTACT: { pulled: 0, pushed: 0, conflicts: 0 },
        COMPANY: { pulled: 1, pushed: 1, conflicts: 0 },
        DEAL: { pulled: 1, pushed: 1, conflicts: 0 },
      });
      // HubSpot's deal and company here, the deal belonging to the company, its amount and date as NexusFlow keeps them.
      const acmeHere = named(await companiesOf(admin), 'Acme')!;
      expect(acmeHere).toMatchObject({ domain: 'acme.example', industry: 'MANUFACTURING', links: [{ integrationId, externalId: acme }] });
      expect(named(await dealsOf(admin), 'Acme renewal')).toMatchObject({
        amount: '1500',
        currency: 'EUR',
        stage: 'appointmentscheduled',
        closeDate: '2027-03-01',
        links: [{ externalId: renewal }],
        company: { id: acmeHere.id },
      });
      // NexusFlow's there, found by NexusFlow's ids in a unique property the sync made, the deal associated with the company.
      const globexThere = hubspot.crm.byProperty('companies', 'nexusflow_id', globex.id)!;
      expect(globexThere.properties).toMatchObject({ name: 'Globex', domain: 'globex.example', phone: '+1 555 0100' });
      const pilotThere = hubspot.crm.byProperty('deals', 'nexusflow_id', pilot.id)!;
      expect(pilotThere.properties).toMatchObject({
        dealname: 'Globex pilot',
        amount: '250.5',
        deal_currency_code: 'USD',
        dealstage: 'qualifiedtobuy',
        closedate: '2027-01-15',
      });
      expect(hubspot.crm.companiesOf(pilotThere.id)).toEqual([globexThere.id]);
      // Companies before deals: the deal's company was at HubSpot by the time the deal was made there.
      const routes = hubspot.crm.requests.map((request) => request.route);
      expect(routes.indexOf('POST /crm/v3/objects/companies/batch/upsert')).toBeLessThan(
        routes.indexOf('POST /crm/v3/objects/deals/batch/upsert'),
      );

      // The pilot moves to Acme here; the renewal's amount changes at HubSpot.
      await under.answer(admin, SAVE_DEAL, { input: { id: pilot.id, companyId: acmeHere.id } });
      hubspot.crm.updateRecord('deals', renewal, { amount: '1750' });
      const second = await sync(admin, integrationId);

      expect(countsOf(second).DEAL).toEqual({ pulled: 1, pushed: 1, conflicts: 0 });
      expect(hubspot.crm.companiesOf(pilotThere.id)).toEqual([acme]);
      expect(named(await dealsOf(admin), 'Acme renewal')).toMatchObject({ amount: '1750', company: { name: 'Acme' } });
      // Incrementally, through the search endpoint, deals' associations read through the v4 API.
      expect(hubspot.crm.requests.some((request) => request.route === 'POST /crm/v3/objects/deals/search')).toBe(true);

      // Both sides agree: nothing moves, and nothing is made twice.
      expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 0, pushed: 0, conflicts: 0 });
      expect([hubspot.crm.companies.size, hubspot.crm.deals.size]).toEqual([2, 2]);
      expect([(await companiesOf(admin)).length, (await dealsOf(admin)).length]).toEqual([2, 2]);
    });

    it('holds a deal changed on both sides and resolves it with the side chosen', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const acme = hubspot.crm.createCompany({ name: 'Acme' });
      const deal = hubspot.crm.createDeal({ dealname: 'Acme expansion', amount: '100' }, acme);
      const integrationId = await connectHubSpot(admin);
      expect(
        (await under.answer(admin, SAVE_DEAL_MAPPINGS, { integrationId, mappings: DEFAULT_DEAL_MAPPINGS, conflictPolicy: 'HOLD' }))
          .saveFieldMappings,
      ).toEqual({ __typename: 'FieldMappingSet', objectType: 'DEAL', conflictPolicy: 'HOLD', saved: true });
      await sync(admin, integrationId);
      const here = named(await dealsOf(admin), 'Acme expansion')!;
      hubspot.crm.updateRecord('deals', deal, { amount: '200' });
      await under.answer(admin, SAVE_DEAL, { input: { id: here.id, amount: '300' } });

      expect(countsOf(await sync(admin, integrationId)).DEAL).toEqual({ pulled: 0, pushed: 0, conflicts: 1 });

      const [conflict] = (await under.answer(admin, CONFLICTS, { integrationId })).syncConflicts;
      expect(conflict).toMatchObject({
        objectType: 'DEAL',
        recordId: here.id,
        externalId: deal,
        nexusflowValues: { amount: '300', companyId: here.company.id },
        providerValues: { amount: '200', companyId: here.company.id },
      });
      expect((await under.answer(admin, RESOLVE, { id: conflict.id, choice: 'PROVIDER' })).resolveSyncConflict).toEqual({
        __typename: 'SyncRecordConflictResolved',
        choice: 'PROVIDER',
        record: { __typename: 'CrmDeal', name: 'Acme expansion', amount: '200', company: { name: 'Acme' } },
      });
      expect(hubspot.crm.deals.get(deal)?.properties.amount).toBe('200');
    });

    it('resumes a deal sync interrupted on a page and on a lost reply, creating no deal twice on either side', async () => {
      const admin = callerOf(randomUUID(), [Role.Owner]);
      const ids = ['a', 'b', 'c', 'd', 'e'].map((name) => hubspot.crm.createDeal({ dealname: `HubSpot ${name}` }));
      const integrationId = await connectHubSpot(admin);
      for (const name of ['x', 'y', 'z']) await under.answer(admin, SAVE_DEAL, { input: { name: `NexusFlow ${name}` } });
      // The deals' second page fails before HubSpot answers; the first batch of new deals is made there, its reply lost.
      hubspot.crm.failNext('GET /crm/v3/objects/deals', { afterApplying: false, after: ids[2] });
      hubspot.crm.failNext('POST /crm/v3/objects/deals/batch/upsert', { afterApplying: true });

      const run = await sync(admin, integrationId);

      expect(countsOf(run).DEAL).toEqual({ pulled: 5, pushed: 3, conflicts: 0 });
      const pages = hubspot.crm.requests.filter((request) => request.route === 'GET /crm/v3/objects/deals');
      expect(pages.map((page) => [page.after, page.status])).toEqual([
        [null, 200],
        [ids[2], 502],
        [ids[2], 200],
        [ids[4], 200],
      ]);
      expect(
        hubspot.crm.requests
          .filter((request) => request.route === 'POST /crm/v3/objects/deals/batch/upsert')
          .map((request) => request.status),
      ).toEqual([502, 200, 200]);
      expect(hubspot.crm.deals.size).toBe(8);
      const deals = await dealsOf(admin);
      expect(deals).toHaveLength(8);
      expect(new Set(deals.map((deal) => deal.links[0]?.externalId)).size).toBe(8);
      expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 0, pushed: 0 });
      expect(hubspot.crm.deals.size).toBe(8);
    });

    it('keeps one active run per integration, however many ask at once, as the database enforces', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const integrationId = await connectHubSpot(admin);
      // The run's first page of companies hangs until it times out, so that it is still active while the others ask.
      const stalled = hubspot.crm.stallNext('GET /crm/v3/objects/companies', null);

      const started = await Promise.all([1, 2, 3, 4].map(() => under.answer(admin, SYNC, { id: integrationId })));

      expect(new Set(started.map((answer) => answer.syncIntegration.id)).size).toBe(1);
      await stalled;
      const runId = started[0]!.syncIntegration.id as string;
      await expect(
        under.rows(
          `insert into crm_sync_runs (id, created_at, tenant_id, integration_id, object_type, status, phase, pulled, pushed, conflicts,
             attempts, started_at, objects)
           select gen_random_uuid(), now(), tenant_id, integration_id, 'CONTACT', 'QUEUED', 'PULL', 0, 0, 0, 0, now(), '[]'
           from crm_sync_runs where id = ?`,
          [runId],
        ),
      ).rejects.toThrow(/crm_sync_runs_one_active_per_integration/);
      expect(await ended(runId)).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    });

    it('leaves a run another worker holds a live lease on to that worker, which ends it', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => hubspot.crm.createContact({ email: `${name}@hubspot.example` }));
      const integrationId = await connectHubSpot(admin);
      const stalled = hubspot.crm.stallNext('GET /crm/v3/objects/contacts', ids[2]!);
      const runId = (await under.answer(admin, SYNC, { id: integrationId })).syncIntegration.id as string;
      await stalled;
      const [leased] = await under.rows('select status, lease_holder from crm_sync_runs where id = ?', [runId]);
      expect(leased).toMatchObject({ status: 'RUNNING', lease_holder: expect.any(String) });
      const asked = hubspot.crm.requests.length;

      // A second worker (another instance on the same database and queue) gets the job delivered again.
      await new SyncEngine(under.subgraph.services.crm.engine.settings).handle({ runId });

      expect(hubspot.crm.requests.length).toBe(asked);
      expect((await under.rows('select lease_holder from crm_sync_runs where id = ?', [runId]))[0]).toEqual({
        lease_holder: leased!.lease_holder,
      });
      // The first worker's page times out, and that worker retries it and ends the run: once, each page read once more.
      expect(await ended(runId)).toMatchObject({ status: 'COMPLETED', pulled: 6, attempts: 1, lease_holder: null });
      const pages = hubspot.crm.requests.filter((request) => request.route === 'GET /crm/v3/objects/contacts');
      expect(pages.map((page) => page.after)).toEqual([null, ids[2], ids[4]]);
      const contacts = (await under.answer(admin, CONTACTS)).crmContacts.nodes as Record<string, any>[];
      expect(new Set(contacts.map((contact) => contact.links[0]?.externalId))).toEqual(new Set(ids));
    });

    it('takes over a run whose worker stopped answering once its lease lapsed, and the stalled worker commits nothing after', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => hubspot.crm.createContact({ email: `${name}@hubspot.example` }));
      const integrationId = await connectHubSpot(admin);
      const stalled = hubspot.crm.stallNext('GET /crm/v3/objects/contacts', ids[2]!);
      const runId = (await under.answer(admin, SYNC, { id: integrationId })).syncIntegration.id as string;
      await stalled;

      clock.offset += (LEASE_SECONDS + 1) * 1000;
      await new SyncEngine(under.subgraph.services.crm.engine.settings).handle({ runId });

      const [taken] = await under.rows('select * from crm_sync_runs where id = ?', [runId]);
      expect(taken).toMatchObject({ status: 'COMPLETED', pulled: 6, attempts: 0, lease_holder: null });
      // Stopping waits for the first worker's stalled attempt to end: finding the run taken over, it leaves it be.
      await under.restart();
      expect((await under.rows('select * from crm_sync_runs where id = ?', [runId]))[0]).toMatchObject({
        status: 'COMPLETED',
        pulled: 6,
        attempts: 0,
        error: null,
      });
      const pages = hubspot.crm.requests.filter((request) => request.route === 'GET /crm/v3/objects/contacts');
      expect(pages.map((page) => page.after)).toEqual([null, ids[2], ids[4]]);
      const contacts = (await under.answer(admin, CONTACTS)).crmContacts.nodes as Record<string, any>[];
      expect(contacts).toHaveLength(6);
      expect(new Set(contacts.map((contact) => contact.links[0]?.externalId))).toEqual(new Set(ids));
    });

    it('goes on with a run whose lease lapsed during a slow page when no other worker took it, and ends it', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => hubspot.crm.createContact({ email: `${name}@hubspot.example` }));
      const integrationId = await connectHubSpot(admin);
      const slowPage = hubspot.crm.holdNext('GET /crm/v3/objects/contacts', ids[2]!);
      const runId = (await under.answer(admin, SYNC, { id: integrationId })).syncIntegration.id as string;
      await slowPage.arrived;

      clock.offset += (LEASE_SECONDS + 1) * 1000;
      slowPage.release();

      expect(await ended(runId)).toMatchObject({ status: 'COMPLETED', pulled: 6, attempts: 0, lease_holder: null });
    });

    it('refuses a deal amount or date that is not one, a company of no one, mappings to fields deals lack, and a VIEWER', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const integrationId = await connectHubSpot(admin);
      const refusals = [
        await under.ask(admin, SAVE_DEAL, { input: { name: 'Odd', amount: 'lots' } }),
        await under.ask(admin, SAVE_DEAL, { input: { name: 'Odd', closeDate: '2027-02-30' } }),
        await under.ask(admin, SAVE_DEAL, { input: { name: 'Odd', companyId: randomUUID() } }),
      ];
      expect(refusals.map((refusal) => refusal.errors?.[0]?.extensions?.field)).toEqual(['amount', 'closeDate', 'companyId']);
      expect(refusals.every((refusal) => refusal.errors?.[0]?.extensions?.code === 'BAD_USER_INPUT')).toBe(true);
      expect(await dealsOf(admin)).toEqual([]);

      const invalid = (
        await under.answer(admin, SAVE_DEAL_MAPPINGS, {
          integrationId,
          mappings: [
            { source: 'dealname', target: 'name', direction: 'BOTH' },
            { source: 'email', target: 'email', direction: 'BOTH' },
          ],
          conflictPolicy: 'HOLD',
        })
      ).saveFieldMappings;
      const problems = invalid.problems as { index: number; field: string; message: string }[];
      expect(problems.map((problem) => [problem.index, problem.field])).toEqual([
        [1, 'source'],
        [1, 'target'],
      ]);
      expect(problems[1]!.message).toBe(
        'NexusFlow has no field "email" on a deal: use name, amount, currency, stage, closeDate or custom.<name>',
      );

      const viewer = callerOf(admin.tenantId, [Role.Viewer]);
      const forbidden = [
        await under.ask(viewer, SAVE_COMPANY, { input: { name: 'No' } }),
        await under.ask(viewer, SAVE_DEAL, { input: { name: 'No' } }),
      ];
      expect(forbidden.map((refusal) => refusal.errors?.[0]?.extensions?.code)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
    });
  });
});
