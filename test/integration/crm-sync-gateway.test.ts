import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Role } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { FakeHubSpot } from '../../subgraphs/nexusflow/integrations/test/support/fake-providers.ts';
import { startGraphUnderTest, type GraphUnderTest } from '../support/services.ts';

const CONNECT = 'mutation { connectIntegration(provider: HUBSPOT) { authorizationUrl } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { ... on Integration { id } }
}`;
const SAVE_MAPPINGS = `mutation ($integrationId: ID!, $mappings: [FieldMappingInput!]!) {
  saveFieldMappings(integrationId: $integrationId, objectType: CONTACT, mappings: $mappings, conflictPolicy: HOLD) {
    __typename ... on FieldMappingSet { conflictPolicy saved } ... on InvalidFieldMappings { problems { index field } }
  }
}`;
const MAPPINGS = `query ($integrationId: ID!) {
  fieldMappings(integrationId: $integrationId, objectType: CONTACT) { conflictPolicy mappings { source target direction } }
}`;
const SAVE_CONTACT = 'mutation ($input: CrmContactInput!) { saveCrmContact(input: $input) { id email firstName } }';
const CONTACTS = `query ($after: String) {
  crmContacts(first: 10, after: $after) { nodes { id email firstName links { externalId } } endCursor hasNextPage }
}`;
const SYNC = 'mutation ($id: ID!) { syncIntegration(id: $id) { __typename ... on SyncRun { id status } } }';
const PROGRESS =
  'subscription ($integrationId: ID!) { syncProgress(integrationId: $integrationId) { run { id status pulled pushed conflicts } } }';
const CONFLICTS = 'query ($integrationId: ID!) { syncConflicts(integrationId: $integrationId) { id nexusflowValues providerValues } }';
const RESOLVE = `mutation ($id: ID!, $choice: ConflictChoice!) {
  resolveSyncConflict(id: $id, choice: $choice) { __typename ... on SyncConflictResolved { contact { firstName } } }
}`;
const SAVE_COMPANY = 'mutation ($input: CrmCompanyInput!) { saveCrmCompany(input: $input) { id name } }';
const SAVE_DEAL = 'mutation ($input: CrmDealInput!) { saveCrmDeal(input: $input) { id name amount company { id name } } }';
const COMPANIES = '{ crmCompanies(first: 50) { nodes { id name domain links { externalId } } hasNextPage } }';
const DEALS = '{ crmDeals(first: 50) { nodes { id name amount currency company { name } links { externalId } } hasNextPage } }';
const MAPPED = [
  { source: 'email', target: 'email', direction: 'BOTH' },
  { source: 'firstname', target: 'firstName', direction: 'BOTH' },
];

type Run = { id: string; status: string; pulled: number; pushed: number; conflicts: number };
type Contact = { id: string; email: string; firstName: string; links: { externalId: string }[] };

/** Through the nexusflow gateway, a tenant connects HubSpot, maps fields, syncs both ways and resolves a held conflict. */
describe('CRM sync through the gateway', () => {
  const hubspot = new FakeHubSpot('hubspot-client', 'hubspot-secret');
  const clients: Client[] = [];
  let graph: GraphUnderTest;

  beforeAll(async () => {
    await hubspot.start();
    graph = await startGraphUnderTest('nexusflow', ['integrations'], {
      label: 'crm_sync_gateway',
      settings: {
        integrations: {
          INTEGRATIONS_HUBSPOT_CLIENT_ID: hubspot.clientId,
          INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
          INTEGRATIONS_HUBSPOT_BASE_URL: hubspot.origin,
        },
      },
    });
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await graph?.close();
    await hubspot.close();
  });

  /** One person per tenant and roles, so that the admin who starts a connection is the one who completes it. */
  const people = new Map<string, string>();
  const tokenFor = (roles: Role[], tenantId: string) => {
    const key = `${tenantId}:${roles.join()}`;
    if (!people.has(key)) people.set(key, randomUUID());
    return graph.tokenFor({ kind: 'user', userId: people.get(key)!, tenantId, roles });
  };
  const send = async (roles: Role[], tenantId: string, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, { token: await tokenFor(roles, tenantId), variables });
  const data = async (roles: Role[], tenantId: string, query: string, variables?: Record<string, unknown>) => {
    const response = await send(roles, tenantId, query, variables);
    expect(response.errors).toBeUndefined();
    return response.data!;
  };

  /**
   * A sync started as an admin, then followed to its end over the syncProgress subscription, which begins with the
   * run as it stands: however quickly the run ends, the subscriber sees its end.
   */
  async function syncWatched(tenantId: string, integrationId: string): Promise<Run[]> {
    const started = (await data([Role.Admin], tenantId, SYNC, { id: integrationId })).syncIntegration as Run;
    const client = createClient({
      url: graph.gateway.graphqlUrl.replace('http://', 'ws://'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${await tokenFor([Role.Viewer], tenantId)}` },
      retryAttempts: 0,
    });
    clients.push(client);
    const seen: Run[] = [];
    for await (const result of client.iterate<{ syncProgress: { run: Run } }>({ query: PROGRESS, variables: { integrationId } })) {
      expect(result.errors).toBeUndefined();
      seen.push(result.data!.syncProgress.run);
      if (['COMPLETED', 'FAILED'].includes(result.data!.syncProgress.run.status)) break;
    }
    expect(seen.every((run) => run.id === started.id)).toBe(true);
    return seen;
  }

  it('connects HubSpot, maps fields, syncs both ways with progress, and holds a conflict until it is resolved', async () => {
    const tenantId = randomUUID();
    hubspot.crm.createContact({ email: 'ada@hubspot.example', firstname: 'Ada' });
    const { authorizationUrl } = (await data([Role.Admin], tenantId, CONNECT)).connectIntegration;
    const { code, state } = await hubspot.consent(authorizationUrl);
    const integrationId = (await data([Role.Admin], tenantId, COMPLETE, { state, code })).completeIntegrationConnection.id as string;

    expect((await data([Role.Owner], tenantId, SAVE_MAPPINGS, { integrationId, mappings: MAPPED })).saveFieldMappings).toEqual({
      __typename: 'FieldMappingSet',
      conflictPolicy: 'HOLD',
      saved: true,
    });
    expect((await data([Role.Viewer], tenantId, MAPPINGS, { integrationId })).fieldMappings.mappings).toHaveLength(2);
    await data([Role.Member], tenantId, SAVE_CONTACT, { input: { email: 'grace@nexusflow.example', firstName: 'Grace' } });

    const first = await syncWatched(tenantId, integrationId);
    expect(first.at(-1)).toMatchObject({ status: 'COMPLETED', pulled: 1, pushed: 1 });
    expect(hubspot.crm.contactByEmail('grace@nexusflow.example')?.properties.firstname).toBe('Grace');
    const nodes = (await data([Role.Viewer], tenantId, CONTACTS)).crmContacts.nodes as Contact[];
    expect(nodes.map((contact) => contact.email).sort()).toEqual(['ada@hubspot.example', 'grace@nexusflow.example']);

    const ada = nodes.find((contact) => contact.email === 'ada@hubspot.example')!;
    hubspot.crm.updateContact(ada.links[0]!.externalId, { firstname: 'Ada at HubSpot' });
    await data([Role.Member], tenantId, SAVE_CONTACT, { input: { id: ada.id, firstName: 'Ada at NexusFlow' } });
    expect((await syncWatched(tenantId, integrationId)).at(-1)).toMatchObject({ status: 'COMPLETED', conflicts: 1 });

    const [conflict] = (await data([Role.Viewer], tenantId, CONFLICTS, { integrationId })).syncConflicts;
    expect(conflict).toMatchObject({ nexusflowValues: { firstName: 'Ada at NexusFlow' }, providerValues: { firstName: 'Ada at HubSpot' } });
    const resolved = (await data([Role.Admin], tenantId, RESOLVE, { id: conflict.id, choice: 'PROVIDER' })).resolveSyncConflict;
    expect(resolved).toEqual({ __typename: 'SyncConflictResolved', contact: { firstName: 'Ada at HubSpot' } });
    expect((await data([Role.Viewer], tenantId, CONFLICTS, { integrationId })).syncConflicts).toEqual([]);
  });

  it('syncs a company and its deal both ways, the deal linked to the company on both sides', async () => {
    const tenantId = randomUUID();
    const initech = hubspot.crm.createCompany({ name: 'Initech', domain: 'initech.example' });
    hubspot.crm.createDeal({ dealname: 'Initech upgrade', amount: '990', deal_currency_code: 'EUR' }, initech);
    const { authorizationUrl } = (await data([Role.Admin], tenantId, CONNECT)).connectIntegration;
    const { code, state } = await hubspot.consent(authorizationUrl);
    const integrationId = (await data([Role.Admin], tenantId, COMPLETE, { state, code })).completeIntegrationConnection.id as string;
    const umbrella = (await data([Role.Member], tenantId, SAVE_COMPANY, { input: { name: 'Umbrella', domain: 'umbrella.example' } }))
      .saveCrmCompany;
    const pilot = (
      await data([Role.Member], tenantId, SAVE_DEAL, { input: { name: 'Umbrella pilot', amount: '120.00', companyId: umbrella.id } })
    ).saveCrmDeal;
    expect(pilot).toMatchObject({ amount: '120', company: { id: umbrella.id, name: 'Umbrella' } });

    expect((await syncWatched(tenantId, integrationId)).at(-1)).toMatchObject({ status: 'COMPLETED' });

    const companies = (await data([Role.Viewer], tenantId, COMPANIES)).crmCompanies.nodes as { name: string; links: unknown[] }[];
    expect(companies.map((company) => company.name).sort()).toEqual(['Initech', 'Umbrella']);
    const deals = (await data([Role.Viewer], tenantId, DEALS)).crmDeals.nodes as { name: string; company: { name: string } }[];
    expect(deals.map((deal) => [deal.name, deal.company.name]).sort()).toEqual([
      ['Initech upgrade', 'Initech'],
      ['Umbrella pilot', 'Umbrella'],
    ]);
    const pilotThere = hubspot.crm.byProperty('deals', 'nexusflow_id', pilot.id)!;
    expect(hubspot.crm.companiesOf(pilotThere.id)).toEqual([hubspot.crm.byProperty('companies', 'nexusflow_id', umbrella.id)!.id]);
  });

  it('refuses a VIEWER every sync change with FORBIDDEN at the gateway', async () => {
    const tenantId = randomUUID();
    const attempts = [
      await send([Role.Viewer], tenantId, SAVE_CONTACT, { input: { email: 'no@nexusflow.example' } }),
      await send([Role.Viewer], tenantId, SAVE_MAPPINGS, { integrationId: randomUUID(), mappings: MAPPED }),
      await send([Role.Viewer], tenantId, SYNC, { id: randomUUID() }),
      await send([Role.Member], tenantId, RESOLVE, { id: randomUUID(), choice: 'PROVIDER' }),
      await send([Role.Viewer], tenantId, SAVE_COMPANY, { input: { name: 'No' } }),
      await send([Role.Viewer], tenantId, SAVE_DEAL, { input: { name: 'No' } }),
    ];
    expect(attempts.map((attempt) => attempt.errors?.map((error) => error.extensions?.code))).toEqual([
      ['FORBIDDEN'],
      ['FORBIDDEN'],
      ['FORBIDDEN'],
      ['FORBIDDEN'],
      ['FORBIDDEN'],
      ['FORBIDDEN'],
    ]);
  });
});
