import { randomUUID } from 'node:crypto';
import { setTimeout as pause } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { FakeHubSpot } from './support/fake-providers.ts';
import { connectByOAuth, syncToTheEnd } from './support/crm-sync-runs.ts';
import { callerOf, startIntegrationsUnderTest, type Caller, type IntegrationsUnderTest } from './support/integrations-under-test.ts';

const PAGE_SIZE = 2;

const CONTACT = 'id email firstName lastName phone company custom links { integrationId externalId }';
const CONTACTS = `query ($after: String) { crmContacts(first: 100, after: $after) { nodes { ${CONTACT} } endCursor hasNextPage } }`;
const SAVE_CONTACT = `mutation ($input: CrmContactInput!) { saveCrmContact(input: $input) { ${CONTACT} } }`;
const MAPPINGS = `query ($integrationId: ID!) {
  fieldMappings(integrationId: $integrationId, objectType: CONTACT) { mappings { source target transform defaultValue direction } conflictPolicy saved }
}`;
const SAVE_MAPPINGS = `mutation ($integrationId: ID!, $mappings: [FieldMappingInput!]!, $conflictPolicy: ConflictPolicy!) {
  saveFieldMappings(integrationId: $integrationId, objectType: CONTACT, mappings: $mappings, conflictPolicy: $conflictPolicy) {
    __typename
    ... on FieldMappingSet { conflictPolicy saved mappings { source target direction } }
    ... on InvalidFieldMappings { message problems { index field message } }
    ... on IntegrationNotFound { id }
  }
}`;
const SYNC = `mutation ($id: ID!) {
  syncIntegration(id: $id) { __typename ... on SyncRun { id status } ... on IntegrationNotSyncable { message } ... on IntegrationNotFound { id } }
}`;
const CONFLICTS = `query ($integrationId: ID!) {
  syncConflicts(integrationId: $integrationId) { id recordId externalId nexusflowValues providerValues }
}`;
const RESOLVE = `mutation ($id: ID!, $choice: ConflictChoice!) {
  resolveSyncConflict(id: $id, choice: $choice) {
    __typename ... on SyncConflictResolved { id choice contact { firstName } } ... on SyncConflictNotFound { id }
  }
}`;
const INTEGRATION = 'query ($id: ID!) { integration(id: $id) { status lastSyncAt counts { syncedRecords heldConflicts } } }';

const STANDARD_MAPPINGS = [
  { source: 'email', target: 'email', direction: 'BOTH' },
  { source: 'firstname', target: 'firstName', direction: 'BOTH' },
  { source: 'lastname', target: 'lastName', direction: 'BOTH' },
  { source: 'jobtitle', target: 'custom.title', transform: '$uppercase(jobtitle)', direction: 'INBOUND' },
  { source: 'lifecyclestage', target: 'company', defaultValue: 'lead', direction: 'OUTBOUND' },
];

/**
 * Two-way sync of contacts with HubSpot, against a fake that speaks its CRM v3 API (list and search paging, batch
 * upsert and update, 429s with its rate-limit headers): the sync runs as jobs on the work queue, page by page.
 */
describe('CRM sync with HubSpot', () => {
  const hubspot = new FakeHubSpot('hubspot-client', 'hubspot-secret');

  beforeAll(async () => {
    await hubspot.start();
  });

  afterAll(async () => {
    await hubspot.close();
  });

  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let under: IntegrationsUnderTest;

    beforeAll(async () => {
      under = await startIntegrationsUnderTest(mode, 'crm_sync', {
        INTEGRATIONS_HUBSPOT_CLIENT_ID: hubspot.clientId,
        INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
        INTEGRATIONS_HUBSPOT_BASE_URL: hubspot.origin,
        INTEGRATIONS_SYNC_PAGE_SIZE: String(PAGE_SIZE),
        INTEGRATIONS_SYNC_RETRY_DELAY_MS: '0',
        // A request HubSpot leaves unanswered fails after a second, so that a stopping process need not wait long for it.
        INTEGRATIONS_PROVIDER_TIMEOUT_SECONDS: '1',
      });
    });

    afterAll(async () => {
      await under?.close();
    });

    beforeEach(() => hubspot.crm.reset());

    const connectHubSpot = (admin: Caller) => connectByOAuth(under, admin, 'HUBSPOT', (url) => hubspot.consent(url));
    const sync = (admin: Caller, integrationId: string) => syncToTheEnd(under, admin, integrationId, SYNC);

    const contactsOf = async (caller: Caller) => (await under.answer(caller, CONTACTS)).crmContacts.nodes as Record<string, any>[];
    const byEmail = (contacts: Record<string, any>[], email: string) => contacts.find((contact) => contact.email === email);

    it('syncs both ways, holds a conflict changed on both sides, and applies the side chosen on resolving it', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      for (const name of ['ada', 'grace', 'edsger', 'barbara', 'donald']) {
        hubspot.crm.createContact({ email: `${name}@hubspot.example`, firstname: name, lastname: 'HubSpot', jobtitle: 'engineer' });
      }
      const integrationId = await connectHubSpot(admin);
      expect((await under.answer(admin, MAPPINGS, { integrationId })).fieldMappings).toMatchObject({
        saved: false,
        conflictPolicy: 'NEWEST_WINS',
      });
      const saved = (await under.answer(admin, SAVE_MAPPINGS, { integrationId, mappings: STANDARD_MAPPINGS, conflictPolicy: 'HOLD' }))
        .saveFieldMappings;
      expect(saved).toMatchObject({ __typename: 'FieldMappingSet', conflictPolicy: 'HOLD', saved: true });
      await under.answer(admin, SAVE_CONTACT, { input: { email: 'alan@nexusflow.example', firstName: 'Alan', lastName: 'Turing' } });

      const first = await sync(admin, integrationId);
      expect(first).toMatchObject({ status: 'COMPLETED', pulled: 5, pushed: 1, conflicts: 0 });
      // Five contacts over three pages of two: the list endpoint, page by page.
      expect(hubspot.crm.requests.filter((request) => request.route === 'GET /crm/v3/objects/contacts')).toHaveLength(3);
      const contacts = await contactsOf(admin);
      expect(contacts).toHaveLength(6);
      expect(byEmail(contacts, 'ada@hubspot.example')).toMatchObject({ firstName: 'ada', custom: { title: 'ENGINEER' } });
      expect(contacts.every((contact) => contact.links.length === 1 && contact.links[0].integrationId === integrationId)).toBe(true);
      expect(hubspot.crm.contactByEmail('alan@nexusflow.example')?.properties).toMatchObject({
        firstname: 'Alan',
        lastname: 'Turing',
        lifecyclestage: 'lead',
      });
      expect((await under.answer(admin, INTEGRATION, { id: integrationId })).integration).toMatchObject({
        status: 'CONNECTED',
        lastSyncAt: expect.any(String),
        counts: { syncedRecords: 6, heldConflicts: 0 },
      });

      const ada = byEmail(contacts, 'ada@hubspot.example')!;
      hubspot.crm.updateContact(ada.links[0].externalId, { firstname: 'Ada (HubSpot)' });
      await under.answer(admin, SAVE_CONTACT, { input: { id: ada.id, firstName: 'Ada (NexusFlow)' } });
      hubspot.crm.updateContact(byEmail(contacts, 'grace@hubspot.example')!.links[0].externalId, { lastname: 'Hopper' });

      const second = await sync(admin, integrationId);
      // Incrementally, through the search endpoint: only the two changed since the last sync.
      expect(second).toMatchObject({ status: 'COMPLETED', pulled: 1, pushed: 0, conflicts: 1 });
      expect(hubspot.crm.requests.filter((request) => request.route === 'POST /crm/v3/objects/contacts/search').length).toBeGreaterThan(0);
      expect(byEmail(await contactsOf(admin), 'grace@hubspot.example')).toMatchObject({ lastName: 'Hopper' });
      const [conflict] = (await under.answer(admin, CONFLICTS, { integrationId })).syncConflicts;
      expect(conflict).toMatchObject({
        recordId: ada.id,
        externalId: ada.links[0].externalId,
        nexusflowValues: { firstName: 'Ada (NexusFlow)' },
        providerValues: { firstName: 'Ada (HubSpot)' },
      });
      // Held: neither side was overwritten.
      expect(hubspot.crm.contacts.get(ada.links[0].externalId)?.properties.firstname).toBe('Ada (HubSpot)');
      expect((await under.answer(admin, INTEGRATION, { id: integrationId })).integration.counts.heldConflicts).toBe(1);

      const resolved = (await under.answer(admin, RESOLVE, { id: conflict.id, choice: 'NEXUSFLOW' })).resolveSyncConflict;
      expect(resolved).toEqual({
        __typename: 'SyncConflictResolved',
        id: conflict.id,
        choice: 'NEXUSFLOW',
        contact: { firstName: 'Ada (NexusFlow)' },
      });
      expect(hubspot.crm.contacts.get(ada.links[0].externalId)?.properties.firstname).toBe('Ada (NexusFlow)');
      expect((await under.answer(admin, CONFLICTS, { integrationId })).syncConflicts).toEqual([]);
      expect((await under.answer(admin, RESOLVE, { id: conflict.id, choice: 'PROVIDER' })).resolveSyncConflict).toEqual({
        __typename: 'SyncConflictNotFound',
        id: conflict.id,
      });

      // Both sides agree: nothing moves, and HubSpot's echo of what was pushed is not pulled back.
      expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 0, pushed: 0, conflicts: 0 });
      expect(hubspot.crm.contacts.size).toBe(6);
      const events = await under.rows(`select type from outbox_events where payload->>'integrationId' = ?`, [integrationId]);
      const syncEvents = events.map((event) => event.type as string).filter((type) => type.startsWith('integration.sync'));
      expect(syncEvents.sort()).toEqual([...Array(3).fill('integration.sync.completed'), ...Array(3).fill('integration.sync.started')]);
    });

    it('resumes a sync interrupted on a page and on a lost reply, creating nothing twice on either side', async () => {
      const admin = callerOf(randomUUID(), [Role.Owner]);
      const ids = ['a', 'b', 'c', 'd', 'e'].map((name) => hubspot.crm.createContact({ email: `${name}@hubspot.example`, firstname: name }));
      const integrationId = await connectHubSpot(admin);
      for (const name of ['x', 'y', 'z'])
        await under.answer(admin, SAVE_CONTACT, { input: { email: `${name}@nexusflow.example`, firstName: name } });
      // The second page fails before HubSpot answers; the first batch of new contacts is made there, but its reply lost.
      hubspot.crm.failNext('GET /crm/v3/objects/contacts', { afterApplying: false, after: ids[2] });
      hubspot.crm.failNext('POST /crm/v3/objects/contacts/batch/upsert', { afterApplying: true });

      const run = await sync(admin, integrationId);

      expect(run).toMatchObject({ status: 'COMPLETED', pulled: 5, pushed: 3 });
      const pages = hubspot.crm.requests.filter((request) => request.route === 'GET /crm/v3/objects/contacts');
      // The first page was read once: the retry resumed at the page that failed.
      expect(pages.map((page) => [page.after, page.status])).toEqual([
        [null, 200],
        [ids[2], 502],
        [ids[2], 200],
        [ids[4], 200],
      ]);
      expect(
        hubspot.crm.requests
          .filter((request) => request.route === 'POST /crm/v3/objects/contacts/batch/upsert')
          .map((request) => request.status),
      ).toEqual([502, 200, 200]);
      expect(hubspot.crm.contacts.size).toBe(8);
      const contacts = await contactsOf(admin);
      expect(contacts).toHaveLength(8);
      expect(new Set(contacts.map((contact) => contact.links[0]?.externalId)).size).toBe(8);
      expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 0, pushed: 0 });
      expect(hubspot.crm.contacts.size).toBe(8);
    });

    it('resumes a sync whose process stopped in the middle, once it is started again, creating nothing twice', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => hubspot.crm.createContact({ email: `${name}@hubspot.example` }));
      const integrationId = await connectHubSpot(admin);
      const stalled = hubspot.crm.stallNext('GET /crm/v3/objects/contacts', ids[2]!);
      const started = (await under.answer(admin, SYNC, { id: integrationId })).syncIntegration as { id: string };
      await stalled;

      await under.restart();

      // Polled: the run resumes as the process starts, before a subscriber could listen.
      let run: Record<string, any> | undefined;
      while (
        !['COMPLETED', 'FAILED'].includes((run = (await under.rows('select * from crm_sync_runs where id = ?', [started.id]))[0])?.status)
      ) {
        await pause(20);
      }
      expect(run).toMatchObject({ status: 'COMPLETED', pulled: 6 });
      const pages = hubspot.crm.requests.filter((request) => request.route === 'GET /crm/v3/objects/contacts');
      expect(pages.map((page) => page.after)).toEqual([null, ids[2], ids[4]]);
      const contacts = await contactsOf(admin);
      expect(contacts).toHaveLength(6);
      expect(new Set(contacts.map((contact) => contact.links[0]?.externalId))).toEqual(new Set(ids));
    });

    it('runs a sync whose job never reached the queue once the sync is asked for again', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      ['g', 'h', 'i'].forEach((name) => hubspot.crm.createContact({ email: `${name}@hubspot.example` }));
      const integrationId = await connectHubSpot(admin);
      await under.answer(admin, SAVE_MAPPINGS, { integrationId, mappings: STANDARD_MAPPINGS, conflictPolicy: 'NEWEST_WINS' });
      // What a process that stopped between recording a run and queueing its job leaves, or a broker that was away.
      const leftId = randomUUID();
      await under.rows(
        `insert into crm_sync_runs (id, created_at, tenant_id, integration_id, object_type, status, phase, pulled, pushed, conflicts,
           attempts, started_at, objects)
         values (?, now(), ?, ?, 'CONTACT', 'QUEUED', 'PULL', 0, 0, 0, 0, now(), ?)`,
        [
          leftId,
          admin.tenantId,
          integrationId,
          JSON.stringify([{ objectType: 'CONTACT', pulled: 0, pushed: 0, conflicts: 0, pullHighWater: null }]),
        ],
      );

      expect((await under.answer(admin, SYNC, { id: integrationId })).syncIntegration).toEqual({
        __typename: 'SyncRun',
        id: leftId,
        status: 'QUEUED',
      });
      let run: Record<string, any> | undefined;
      while (
        !['COMPLETED', 'FAILED'].includes((run = (await under.rows('select * from crm_sync_runs where id = ?', [leftId]))[0])?.status)
      ) {
        await pause(20);
      }
      expect(run).toMatchObject({ status: 'COMPLETED', pulled: 3 });
    });

    it("waits out HubSpot's 429s as long as its rate-limit headers say, then goes on", async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      hubspot.crm.createContact({ email: 'patient@hubspot.example', firstname: 'Patient' });
      const integrationId = await connectHubSpot(admin);
      hubspot.crm.rateLimitNext(2, { 'X-HubSpot-RateLimit-Interval-Milliseconds': '300' });

      expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 1 });

      const [first, second, third] = hubspot.crm.requests;
      expect([first!.status, second!.status, third!.status]).toEqual([429, 429, 200]);
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(300);
      expect(third!.at - second!.at).toBeGreaterThanOrEqual(300);
    });

    it('fails a sync whose rate limits outlast the attempts, with HubSpot’s words, and says so on the integration', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const integrationId = await connectHubSpot(admin);
      hubspot.crm.rateLimitNext(1000, { 'X-HubSpot-RateLimit-Interval-Milliseconds': '1' });

      const run = await sync(admin, integrationId);

      expect(run).toMatchObject({ status: 'FAILED', error: 'HubSpot answered 429: You have reached your ten_secondly_rolling limit.' });
      expect(
        (await under.answer(admin, 'query ($id: ID!) { integration(id: $id) { status statusMessage } }', { id: integrationId }))
          .integration,
      ).toEqual({
        status: 'ERROR',
        statusMessage: run.error,
      });
    });

    it('refreshes a token HubSpot refuses with 401 once, and syncs with the new one', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      hubspot.crm.createContact({ email: 'fresh@hubspot.example' });
      const integrationId = await connectHubSpot(admin);
      for (const issued of hubspot.accessTokens.values()) issued.revoked = true;
      const before = hubspot.tokenRequests.length;

      expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 1 });
      expect(hubspot.tokenRequests.slice(before).map((form) => form.get('grant_type'))).toEqual(['refresh_token']);
    });

    it('refuses mappings naming fields neither side has, a transform that does not parse, or one carried both ways, saving nothing', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const integrationId = await connectHubSpot(admin);
      const mappings = [
        { source: 'email', target: 'email', direction: 'BOTH' },
        { source: 'favourite_colour', target: 'custom.colour', direction: 'INBOUND' },
        { source: 'firstname', target: 'nickname', direction: 'BOTH' },
        { source: 'lastname', target: 'lastName', transform: '$uppercase(', direction: 'INBOUND' },
        { source: 'phone', target: 'phone', transform: '$trim(phone)', direction: 'BOTH' },
      ];
      const refused = (await under.answer(admin, SAVE_MAPPINGS, { integrationId, mappings, conflictPolicy: 'NEWEST_WINS' }))
        .saveFieldMappings;
      expect(refused.__typename).toBe('InvalidFieldMappings');
      const problems = refused.problems as { index: number; field: string; message: string }[];
      expect(problems.map((problem) => [problem.index, problem.field])).toEqual([
        [1, 'source'],
        [2, 'target'],
        [3, 'transform'],
        [4, 'direction'],
      ]);
      expect(problems[0]!.message).toBe('The CRM has no field "favourite_colour"');
      expect((await under.answer(admin, MAPPINGS, { integrationId })).fieldMappings.saved).toBe(false);
    });

    it('keeps contacts, mappings, conflicts and syncs to their tenant, and refuses a VIEWER every change', async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const integrationId = await connectHubSpot(admin);
      await under.answer(admin, SAVE_CONTACT, { input: { email: 'own@nexusflow.example' } });
      const stranger = callerOf(randomUUID(), [Role.Admin]);
      expect(await contactsOf(stranger)).toEqual([]);
      expect((await under.answer(stranger, MAPPINGS, { integrationId })).fieldMappings).toBeNull();
      expect((await under.answer(stranger, SYNC, { id: integrationId })).syncIntegration).toEqual({
        __typename: 'IntegrationNotFound',
        id: integrationId,
      });
      expect(
        (await under.answer(stranger, SAVE_MAPPINGS, { integrationId, mappings: [], conflictPolicy: 'HOLD' })).saveFieldMappings,
      ).toEqual({
        __typename: 'IntegrationNotFound',
        id: integrationId,
      });
      const viewer = callerOf(admin.tenantId, [Role.Viewer]);
      const refusals = [
        await under.ask(viewer, SAVE_CONTACT, { input: { email: 'no@nexusflow.example' } }),
        await under.ask(viewer, SAVE_MAPPINGS, { integrationId, mappings: [], conflictPolicy: 'HOLD' }),
        await under.ask(viewer, SYNC, { id: integrationId }),
        await under.ask(viewer, RESOLVE, { id: randomUUID(), choice: 'PROVIDER' }),
      ];
      expect(refusals.map((refusal) => refusal.errors?.[0]?.extensions?.code)).toEqual([
        'FORBIDDEN',
        'FORBIDDEN',
        'FORBIDDEN',
        'FORBIDDEN',
      ]);
      expect(await contactsOf(viewer)).toHaveLength(1);
    });
  });
});
