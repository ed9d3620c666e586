import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { FakePipedrive, FakeSalesforceCrm, FakeZoho, type CrmApiRequest, type FakeRecord } from './support/fake-crms.ts';
import { connectByOAuth, syncToTheEnd } from './support/crm-sync-runs.ts';
import { callerOf, startIntegrationsUnderTest, type Caller, type IntegrationsUnderTest } from './support/integrations-under-test.ts';

const PAGE_SIZE = 2;

const CONTACTS =
  'query { crmContacts(first: 100) { nodes { id email firstName lastName company custom links { integrationId externalId } } } }';
const SAVE_CONTACT = 'mutation ($input: CrmContactInput!) { saveCrmContact(input: $input) { id } }';
const COMPANY = 'id name domain links { externalId }';
const DEALS = `{ crmDeals(first: 100) { nodes { id name amount stage closeDate links { externalId } company { ${COMPANY} } } } }`;
const SAVE_COMPANY = `mutation ($input: CrmCompanyInput!) { saveCrmCompany(input: $input) { ${COMPANY} } }`;
const SAVE_DEAL = 'mutation ($input: CrmDealInput!) { saveCrmDeal(input: $input) { id } }';
const MAPPINGS = `query ($integrationId: ID!) {
  fieldMappings(integrationId: $integrationId, objectType: CONTACT) { mappings { source target transform defaultValue direction } saved }
}`;
const SAVE_MAPPINGS = `mutation ($integrationId: ID!, $mappings: [FieldMappingInput!]!) {
  saveFieldMappings(integrationId: $integrationId, objectType: CONTACT, mappings: $mappings, conflictPolicy: NEWEST_WINS) {
    __typename ... on InvalidFieldMappings { problems { index field message } }
  }
}`;
const SYNC = `mutation ($id: ID!) {
  syncIntegration(id: $id) { __typename ... on SyncRun { id status } ... on IntegrationNotSyncable { message } }
}`;

/** What the tests need of one CRM's fake, whatever its API's shapes. */
interface CrmUnderTest {
  provider: 'SALESFORCE' | 'PIPEDRIVE' | 'ZOHO_CRM';
  fake: FakeSalesforceCrm | FakePipedrive | FakeZoho;
  variablePrefix: string;
  /** A contact made at the CRM by a person there; its id. */
  seed(email: string, firstName: string, lastName: string): string;
  rename(id: string, lastName: string): void;
  /** The CRM's contacts, as the standard fields. */
  contacts(): { id: string; email: string | null; firstName: string | null; lastName: string | null }[];
  /**
   * The requests that listed contacts, each page; `incremental` when a run's first page asked only for changes since a
   * time, null on the pages that follow one.
   */
  contactPages(): (CrmApiRequest & { incremental: boolean | null })[];
  /** The route that creates contacts, to lose a reply of. */
  createRoute: string;
  /** The next `times` requests meet the CRM's short-lived rate limit; how long it asks to wait in all, at least. */
  rateLimitNext(times: number): number;
  /** A contact's custom field at the CRM (its field list's name for it), and how to set it on a contact there. */
  customField: string;
  setCustom(id: string, value: string): void;
  /** A stage as the CRM names it. */
  stage: string;
  /** A company with a deal made at the CRM; the deal's id. */
  seedDeal(company: string, deal: string): string;
  /** A deal at the CRM by name: its company's id and the NexusFlow id it keeps, if any. */
  dealNamed(name: string): { companyId: string | null; nexusflowId: string | null } | undefined;
  /** A company at the CRM by name: its id. */
  companyNamed(name: string): string | undefined;
}

const salesforce = new FakeSalesforceCrm('sf-client', 'sf-secret');
const pipedrive = new FakePipedrive('pd-client', 'pd-secret');
const zoho = new FakeZoho('zoho-client', 'zoho-secret');

const salesforceContact = (record: FakeRecord) => ({
  id: record.id,
  email: (record.fields.Email as string | undefined) ?? null,
  firstName: (record.fields.FirstName as string | undefined) ?? null,
  lastName: (record.fields.LastName as string | undefined) ?? null,
});

const CRMS: CrmUnderTest[] = [
  {
    provider: 'SALESFORCE',
    fake: salesforce,
    variablePrefix: 'SALESFORCE',
    seed: (email, firstName, lastName) => salesforce.contacts.create({ Email: email, FirstName: firstName, LastName: lastName }).id,
    rename: (id, lastName) => void salesforce.contacts.update(id, { LastName: lastName }),
    contacts: () => [...salesforce.contacts.byId.values()].map(salesforceContact),
    contactPages: () =>
      salesforce.api.requests
        .filter(
          (request) =>
            (request.route === 'GET /services/data/v60.0/query' && / FROM Contact /.test(request.query.get('q') ?? '')) ||
            request.route === 'GET /services/data/v60.0/query/:locator',
        )
        .map((request) => ({
          ...request,
          incremental: request.route.endsWith(':locator') ? null : (request.query.get('q') ?? '').includes('WHERE SystemModstamp >='),
        })),
    createRoute: 'PATCH /services/data/v60.0/composite/sobjects/Contact/NexusFlow_Id__c',
    customField: 'Title',
    setCustom: (id, value) => void salesforce.contacts.update(id, { Title: value }),
    stage: 'Prospecting',
    seedDeal(company, deal) {
      const account = salesforce.objects.get('Account')!.create({ Name: company });
      return salesforce.objects
        .get('Opportunity')!
        .create({ Name: deal, Amount: 1200, StageName: 'Prospecting', CloseDate: '2027-03-31', AccountId: account.id }).id;
    },
    dealNamed(name) {
      const deal = salesforce.objects.get('Opportunity')!.find((fields) => fields.Name === name);
      return (
        deal && {
          companyId: (deal.fields.AccountId as string | null) ?? null,
          nexusflowId: (deal.fields.NexusFlow_Id__c as string) ?? null,
        }
      );
    },
    companyNamed: (name) => salesforce.objects.get('Account')!.find((fields) => fields.Name === name)?.id,
    rateLimitNext(times) {
      salesforce.limitNext(times, 'concurrent');
      // Salesforce says nothing of how long: 250 ms, doubling.
      return 250 * (2 ** times - 1);
    },
  },
  {
    provider: 'PIPEDRIVE',
    fake: pipedrive,
    variablePrefix: 'PIPEDRIVE',
    seed: (email, firstName, lastName) => pipedrive.createPerson({ email, first_name: firstName, last_name: lastName }),
    rename: (id, lastName) => pipedrive.updatePerson(id, { last_name: lastName }),
    contacts: () =>
      [...pipedrive.persons.byId.values()].map((record) => ({
        id: record.id,
        email: ((record.fields.emails ?? []) as { value: string; primary: boolean }[]).find((entry) => entry.primary)?.value ?? null,
        firstName: (record.fields.first_name as string | null) ?? null,
        lastName: (record.fields.last_name as string | null) ?? null,
      })),
    contactPages: () =>
      pipedrive.api.requests
        .filter((request) => request.route === 'GET /api/v2/persons')
        .map((request) => ({ ...request, incremental: request.query.has('cursor') ? null : request.query.has('updated_since') })),
    createRoute: 'POST /api/v2/persons',
    customField: 'c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ff',
    setCustom: (id, value) => void pipedrive.persons.update(id, { custom_fields: { c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ff: value } }),
    stage: '2',
    seedDeal(company, deal) {
      const organization = pipedrive.objects.get('organizations')!.create({ name: company });
      return pipedrive.objects.get('deals')!.create({
        title: deal,
        value: 1200,
        currency: 'EUR',
        stage_id: 2,
        expected_close_date: '2027-03-31',
        org_id: Number(organization.id),
      }).id;
    },
    dealNamed(name) {
      const deal = pipedrive.objects.get('deals')!.find((fields) => fields.title === name);
      const custom = (deal?.fields.custom_fields ?? {}) as Record<string, string>;
      return (
        deal && {
          companyId: typeof deal.fields.org_id === 'number' ? String(deal.fields.org_id) : null,
          nexusflowId: Object.values(custom)[0] ?? null,
        }
      );
    },
    companyNamed: (name) => pipedrive.objects.get('organizations')!.find((fields) => fields.name === name)?.id,
    rateLimitNext(times) {
      pipedrive.rateLimitNext(times, 1);
      return times * 1000;
    },
  },
  {
    provider: 'ZOHO_CRM',
    fake: zoho,
    variablePrefix: 'ZOHO_CRM',
    seed: (email, firstName, lastName) => zoho.contacts.create({ Email: email, First_Name: firstName, Last_Name: lastName }).id,
    rename: (id, lastName) => void zoho.contacts.update(id, { Last_Name: lastName }),
    contacts: () =>
      [...zoho.contacts.byId.values()].map((record) => ({
        id: record.id,
        email: (record.fields.Email as string | null) ?? null,
        firstName: (record.fields.First_Name as string | null) ?? null,
        lastName: (record.fields.Last_Name as string | null) ?? null,
      })),
    contactPages: () =>
      zoho.api.requests
        .filter((request) => request.route === 'GET /crm/v2/Contacts')
        .map((request) => ({
          ...request,
          incremental: request.from !== null && request.from !== '1' ? null : request.headers['if-modified-since'] !== undefined,
        })),
    createRoute: 'POST /crm/v2/Contacts/upsert',
    customField: 'Title',
    setCustom: (id, value) => void zoho.contacts.update(id, { Title: value }),
    stage: 'Qualification',
    seedDeal(company, deal) {
      const account = zoho.modules.get('Accounts')!.create({ Account_Name: company });
      return zoho.modules
        .get('Deals')!
        .create({ Deal_Name: deal, Amount: 1200, Stage: 'Qualification', Closing_Date: '2027-03-31', Account_Name: { id: account.id } }).id;
    },
    dealNamed(name) {
      const deal = zoho.modules.get('Deals')!.find((fields) => fields.Deal_Name === name);
      const lookup = deal?.fields.Account_Name as { id?: string } | null | undefined;
      return deal && { companyId: lookup?.id ?? null, nexusflowId: (deal.fields.NexusFlow_Id as string | undefined) ?? null };
    },
    companyNamed: (name) => zoho.modules.get('Accounts')!.find((fields) => fields.Account_Name === name)?.id,
    rateLimitNext(times) {
      // Until the reset time each answer names.
      zoho.rateLimitNext(times, 300);
      return times * 300 - 20;
    },
  },
];

/**
 * Two-way contact sync with Salesforce, Pipedrive and Zoho CRM, each against a fake speaking its real API (its OAuth,
 * its paging, its rate-limit answers and headers, its idempotent writes): the sync engine runs as it does for HubSpot,
 * through each CRM's adapter.
 */
describe('CRM sync with Salesforce, Pipedrive and Zoho CRM', () => {
  beforeAll(async () => {
    await Promise.all([salesforce.start(), pipedrive.start(), zoho.start()]);
    salesforce.batchSize = PAGE_SIZE;
  });

  afterAll(async () => {
    await Promise.all([salesforce.close(), pipedrive.close(), zoho.close()]);
  });

  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let under: IntegrationsUnderTest;

    beforeAll(async () => {
      const env: Record<string, string> = {
        INTEGRATIONS_SYNC_PAGE_SIZE: String(PAGE_SIZE),
        INTEGRATIONS_SYNC_RETRY_DELAY_MS: '0',
      };
      for (const crm of CRMS) {
        env[`INTEGRATIONS_${crm.variablePrefix}_CLIENT_ID`] = crm.fake.clientId;
        env[`INTEGRATIONS_${crm.variablePrefix}_CLIENT_SECRET`] = crm.fake.clientSecret;
        env[`INTEGRATIONS_${crm.variablePrefix}_BASE_URL`] = crm.fake.origin;
      }
      under = await startIntegrationsUnderTest(mode, 'crm_adapters', env);
    });

    afterAll(async () => {
      await under?.close();
    });

    beforeEach(() => {
      for (const crm of CRMS) crm.fake.reset();
    });

    const connect = (crm: CrmUnderTest, admin: Caller) => connectByOAuth(under, admin, crm.provider, (url) => crm.fake.consent(url));
    const sync = (admin: Caller, integrationId: string) => syncToTheEnd(under, admin, integrationId, SYNC);

    const contactsOf = async (caller: Caller) => (await under.answer(caller, CONTACTS)).crmContacts.nodes as Record<string, any>[];

    describe.each(CRMS)('with $provider', (crm) => {
      it('connects by OAuth, syncs contacts both ways page by page, then only what changed, and nothing once both agree', async () => {
        const admin = callerOf(randomUUID(), [Role.Admin]);
        const ids = ['ada', 'grace', 'edsger'].map((name) => crm.seed(`${name}@crm.example`, name, 'Seeded'));
        const integrationId = await connect(crm, admin);
        const alan = (
          await under.answer(admin, SAVE_CONTACT, { input: { email: 'alan@nexusflow.example', firstName: 'Alan', lastName: 'Turing' } })
        ).saveCrmContact.id as string;

        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 3, pushed: 1, conflicts: 0 });
        // Three contacts over pages of two, all of them: no modified-since on a first sync.
        expect(crm.contactPages().map((page) => page.incremental)).toEqual([false, null]);
        const contacts = await contactsOf(admin);
        expect(contacts).toHaveLength(4);
        expect(contacts.find((contact) => contact.email === 'ada@crm.example')).toMatchObject({ firstName: 'ada', lastName: 'Seeded' });
        expect(contacts.every((contact) => contact.links.length === 1 && contact.links[0].integrationId === integrationId)).toBe(true);
        expect(crm.contacts().find((contact) => contact.email === 'alan@nexusflow.example')).toMatchObject({
          firstName: 'Alan',
          lastName: 'Turing',
        });

        crm.rename(ids[1]!, 'Hopper');
        await under.answer(admin, SAVE_CONTACT, { input: { id: alan, firstName: 'Alonzo' } });
        const pagesBefore = crm.contactPages().length;

        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 1, pushed: 1, conflicts: 0 });
        expect(crm.contactPages()[pagesBefore]?.incremental).toBe(true);
        expect((await contactsOf(admin)).find((contact) => contact.email === 'grace@crm.example')).toMatchObject({ lastName: 'Hopper' });
        expect(crm.contacts().find((contact) => contact.email === 'alan@nexusflow.example')).toMatchObject({ firstName: 'Alonzo' });

        // The CRM's echo of what was pushed is not pulled back, and nothing is made twice.
        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 0, pushed: 0, conflicts: 0 });
        expect(crm.contacts()).toHaveLength(4);
        expect(await contactsOf(admin)).toHaveLength(4);
      });

      it("checks mappings against the CRM's own field list, and carries a custom field through them", async () => {
        const admin = callerOf(randomUUID(), [Role.Admin]);
        const id = crm.seed('custom@crm.example', 'Custom', 'Field');
        crm.setCustom(id, 'Engineer');
        const integrationId = await connect(crm, admin);
        const defaults = (await under.answer(admin, MAPPINGS, { integrationId })).fieldMappings;
        expect(defaults.saved).toBe(false);
        const title = { source: crm.customField, target: 'custom.title', transform: null, defaultValue: null, direction: 'INBOUND' };

        const refused = await under.answer(admin, SAVE_MAPPINGS, {
          integrationId,
          mappings: [...defaults.mappings, { ...title, source: 'favourite_colour' }],
        });
        expect(refused.saveFieldMappings).toEqual({
          __typename: 'InvalidFieldMappings',
          problems: [{ index: defaults.mappings.length, field: 'source', message: 'The CRM has no field "favourite_colour"' }],
        });
        const saved = await under.answer(admin, SAVE_MAPPINGS, { integrationId, mappings: [...defaults.mappings, title] });
        expect(saved.saveFieldMappings.__typename).toBe('FieldMappingSet');

        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 1 });
        expect((await contactsOf(admin))[0]).toMatchObject({ email: 'custom@crm.example', custom: { title: 'Engineer' } });
      });

      it('syncs companies and deals both ways, each deal with its company', async () => {
        const admin = callerOf(randomUUID(), [Role.Admin]);
        crm.seedDeal('Initech', 'Initech renewal');
        const integrationId = await connect(crm, admin);
        const company = (await under.answer(admin, SAVE_COMPANY, { input: { name: 'Hooli', domain: 'hooli.example' } })).saveCrmCompany;
        const deal = (
          await under.answer(admin, SAVE_DEAL, {
            input: { name: 'Hooli pilot', amount: '1500.50', stage: crm.stage, closeDate: '2027-06-30', companyId: company.id },
          })
        ).saveCrmDeal;

        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 2, pushed: 2, conflicts: 0 });

        const pulled = ((await under.answer(admin, DEALS)).crmDeals.nodes as Record<string, any>[]).find(
          (node) => node.name === 'Initech renewal',
        );
        expect(pulled).toMatchObject({ amount: '1200', stage: crm.stage, closeDate: '2027-03-31', company: { name: 'Initech' } });
        const hooli = crm.companyNamed('Hooli');
        expect(hooli).toBeDefined();
        expect(crm.dealNamed('Hooli pilot')).toEqual({ companyId: hooli, nexusflowId: deal.id });
        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 0, pushed: 0 });
      });

      it('resumes a push whose reply was lost, creating nothing twice on either side', async () => {
        const admin = callerOf(randomUUID(), [Role.Owner]);
        crm.seed('kept@crm.example', 'Kept', 'There');
        const integrationId = await connect(crm, admin);
        for (const name of ['x', 'y']) {
          await under.answer(admin, SAVE_CONTACT, { input: { email: `${name}@nexusflow.example`, firstName: name, lastName: 'Local' } });
        }
        crm.fake.api.failNext(crm.createRoute, { afterApplying: true });

        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 1, pushed: 2 });
        expect(crm.fake.api.of(crm.createRoute).map((request) => request.status)).toContain(502);
        expect(crm.contacts()).toHaveLength(3);
        const contacts = await contactsOf(admin);
        expect(contacts).toHaveLength(3);
        expect(new Set(contacts.map((contact) => contact.links[0]?.externalId)).size).toBe(3);

        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 0, pushed: 0 });
        expect(crm.contacts()).toHaveLength(3);
      });

      it('waits out its rate limits as long as its answers say, then goes on', async () => {
        const admin = callerOf(randomUUID(), [Role.Admin]);
        crm.seed('patient@crm.example', 'Patient', 'Person');
        const integrationId = await connect(crm, admin);
        const asked = crm.rateLimitNext(2);

        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 1 });

        const [first, second, third] = crm.fake.api.requests;
        expect([first!.status, third!.status]).toEqual([crm.provider === 'SALESFORCE' ? 403 : 429, 200]);
        expect(second!.status).toBe(first!.status);
        expect(third!.at - first!.at).toBeGreaterThanOrEqual(asked);
      });

      it('refreshes a token the CRM refuses once, and syncs with the new one', async () => {
        const admin = callerOf(randomUUID(), [Role.Admin]);
        crm.seed('fresh@crm.example', 'Fresh', 'Token');
        const integrationId = await connect(crm, admin);
        for (const issued of crm.fake.accessTokens.values()) issued.revoked = true;
        const before = crm.fake.tokenRequests.length;

        expect(await sync(admin, integrationId)).toMatchObject({ status: 'COMPLETED', pulled: 1 });
        expect(crm.fake.tokenRequests.slice(before).map((form) => form.get('grant_type'))).toEqual(['refresh_token']);
      });
    });

    it("fails a Salesforce sync at once on the org's daily API limit, saying how much was used, without retrying", async () => {
      const admin = callerOf(randomUUID(), [Role.Admin]);
      const integrationId = await connect(CRMS[0]!, admin);
      salesforce.limitNext(1, 'daily');

      const run = await sync(admin, integrationId);

      expect(run).toMatchObject({
        status: 'FAILED',
        error: 'Salesforce answered 403: TotalRequests Limit exceeded. (API requests used today: 15000/15000)',
      });
      expect(salesforce.api.requests.map((request) => request.status)).toEqual([403]);
    });
  });
});
