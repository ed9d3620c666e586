import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { Role } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { FakeHubSpot, FakeSlack } from '../../subgraphs/nexusflow/integrations/test/support/fake-providers.ts';
import { deliver, hubSpotDelivery, hubSpotEvent } from '../../subgraphs/nexusflow/integrations/test/support/provider-webhooks.ts';
import { startGraphUnderTest, type GraphUnderTest } from '../support/services.ts';

const CONNECT = 'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) {
    __typename ... on Integration { id webhookUrl } ... on IntegrationConnectionFailed { message }
  }
}`;
const INTEGRATIONS = '{ integrations { provider status accountLabel } }';
const INTEGRATION = 'query ($id: ID!) { integration(id: $id) { status lastSyncAt counts { syncedRecords heldConflicts } } }';
const SAVE_MAPPINGS = `mutation ($integrationId: ID!, $mappings: [FieldMappingInput!]!) {
  saveFieldMappings(integrationId: $integrationId, objectType: CONTACT, mappings: $mappings, conflictPolicy: HOLD) {
    __typename ... on FieldMappingSet { conflictPolicy saved } ... on InvalidFieldMappings { problems { index field message } }
  }
}`;
const MAPPINGS = `query ($integrationId: ID!) {
  fieldMappings(integrationId: $integrationId, objectType: CONTACT) { conflictPolicy mappings { source target transform direction } }
}`;
const SAVE_CONTACT = 'mutation ($input: CrmContactInput!) { saveCrmContact(input: $input) { id } }';
const CONTACTS = '{ crmContacts(first: 50) { nodes { id email firstName custom links { externalId } } } }';
const SYNC = 'mutation ($id: ID!) { syncIntegration(id: $id) { __typename ... on SyncRun { id status } } }';
const PROGRESS =
  'subscription ($integrationId: ID!) { syncProgress(integrationId: $integrationId) { run { id status pulled pushed conflicts } } }';
const CONFLICTS =
  'query ($integrationId: ID!) { syncConflicts(integrationId: $integrationId) { id recordId nexusflowValues providerValues } }';
const RESOLVE = `mutation ($id: ID!, $choice: ConflictChoice!) {
  resolveSyncConflict(id: $id, choice: $choice) { __typename ... on SyncConflictResolved { choice contact { firstName } } }
}`;
const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) {
  createWorkflow(input: $input) { __typename ... on Workflow { id } ... on InvalidWorkflow { problems { field problem } } }
}`;
const RUNS = 'query ($id: ID!) { workflow(id: $id) { executions(first: 10) { edges { node { id status input } } } } }';
const EXECUTION = 'query ($id: ID!) { execution(id: $id) { status stepRuns { stepKey status output } } }';

/** Email and first name both ways; HubSpot's job title in, upper-cased; a lifecycle stage out, "lead" when there is none. */
const MAPPED = [
  { source: 'email', target: 'email', direction: 'BOTH' },
  { source: 'firstname', target: 'firstName', direction: 'BOTH' },
  { source: 'jobtitle', target: 'custom.title', transform: '$uppercase(jobtitle)', direction: 'INBOUND' },
  { source: 'lifecyclestage', target: 'company', defaultValue: 'lead', direction: 'OUTBOUND' },
];

/** The message the workflow posts, from the event that started its run: a placeholder and a JSONata expression. */
const ANNOUNCEMENT =
  'New HubSpot {{input.payload.objectType}} #{{input.payload.objectId}}, created {{= $substringBefore(input.payload.occurredAt, "T") }}';

type Run = { id: string; status: string; pulled: number; pushed: number; conflicts: number };
type Contact = { id: string; email: string; firstName: string; custom: Record<string, unknown>; links: { externalId: string }[] };
type Execution = { id: string; status: string; input: { type: string; payload: Record<string, unknown> } };

/**
 * Issue 16's journey, through the nexusflow gateway with the integrations and workflows subgraphs behind it and HubSpot
 * and Slack faked at their HTTP APIs: a tenant admin connects both, maps fields, syncs contacts both ways, resolves a
 * conflict the sync held, and a workflow triggered by HubSpot's `contact.creation` webhook posts to Slack, once per
 * delivery.
 */
describe('the integrations journey', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    const hubspot = new FakeHubSpot('hubspot-client', 'hubspot-client-secret');
    const slack = new FakeSlack('slack-client', 'slack-client-secret');
    const tenantId = randomUUID();
    const admin = { kind: 'user' as const, userId: randomUUID(), tenantId, roles: [Role.Admin] };
    const viewer = { kind: 'user' as const, userId: randomUUID(), tenantId, roles: [Role.Viewer] };
    const clients: Client[] = [];
    let graph: GraphUnderTest;
    let hubspotId: string;
    let hubspotWebhookUrl: string;
    let slackId: string;

    beforeAll(async () => {
      await Promise.all([hubspot.start(), slack.start()]);
      graph = await startGraphUnderTest('nexusflow', ['integrations', 'workflows'], {
        mode,
        label: `integrations_journey_${mode}`,
        settings: {
          integrations: {
            INTEGRATIONS_HUBSPOT_CLIENT_ID: hubspot.clientId,
            INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
            INTEGRATIONS_HUBSPOT_BASE_URL: hubspot.origin,
            INTEGRATIONS_SLACK_CLIENT_ID: slack.clientId,
            INTEGRATIONS_SLACK_CLIENT_SECRET: slack.clientSecret,
            INTEGRATIONS_SLACK_BASE_URL: slack.origin,
          },
        },
      });
    });

    afterAll(async () => {
      for (const client of clients) await client.dispose();
      await graph?.close();
      await Promise.all([hubspot.close(), slack.close()]);
    });

    const as = async (person: typeof admin, query: string, variables: Record<string, unknown> = {}) => {
      const response = await postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, {
        token: await graph.tokenFor(person),
        variables,
      });
      expect(response.errors, query).toBeUndefined();
      return response.data!;
    };

    async function connect(provider: 'HUBSPOT' | 'SLACK', fake: FakeHubSpot | FakeSlack) {
      const { authorizationUrl } = (await as(admin, CONNECT, { provider })).connectIntegration;
      const { code, state } = await fake.consent(authorizationUrl);
      const completed = (await as(admin, COMPLETE, { state, code })).completeIntegrationConnection;
      expect(completed.__typename, JSON.stringify(completed)).toBe('Integration');
      return completed as { id: string; webhookUrl: string };
    }

    /** A sync the admin starts, followed to its end over the gateway's syncProgress subscription; its last state. */
    async function sync(): Promise<Run> {
      const started = (await as(admin, SYNC, { id: hubspotId })).syncIntegration as Run;
      const client = createClient({
        url: graph.gateway.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${await graph.tokenFor(viewer)}` },
        retryAttempts: 0,
      });
      clients.push(client);
      const progress = client.iterate<{ syncProgress: { run: Run } }>({ query: PROGRESS, variables: { integrationId: hubspotId } });
      for await (const result of progress) {
        expect(result.errors).toBeUndefined();
        const { run } = result.data!.syncProgress;
        expect(run.id).toBe(started.id);
        if (run.status === 'COMPLETED' || run.status === 'FAILED') return run;
      }
      throw new Error('the progress ended before the run');
    }

    const contacts = async () => (await as(viewer, CONTACTS)).crmContacts.nodes as Contact[];
    const byEmail = (all: Contact[], email: string) => all.find((contact) => contact.email === email)!;

    it('connects HubSpot and Slack through their OAuth consent', async () => {
      const hubspotIntegration = await connect('HUBSPOT', hubspot);
      hubspotId = hubspotIntegration.id;
      hubspotWebhookUrl = `${graph.subgraphs.integrations!.url}${new URL(hubspotIntegration.webhookUrl).pathname}`;
      slackId = (await connect('SLACK', slack)).id;

      const connected = (await as(viewer, INTEGRATIONS)).integrations as { provider: string }[];
      expect([...connected].sort((a, b) => a.provider.localeCompare(b.provider))).toEqual([
        { provider: 'HUBSPOT', status: 'CONNECTED', accountLabel: hubspot.hubDomain },
        { provider: 'SLACK', status: 'CONNECTED', accountLabel: slack.team.name },
      ]);
    });

    it('saves field mappings with a JSONata transform and a HOLD conflict policy', async () => {
      expect((await as(admin, SAVE_MAPPINGS, { integrationId: hubspotId, mappings: MAPPED })).saveFieldMappings).toEqual({
        __typename: 'FieldMappingSet',
        conflictPolicy: 'HOLD',
        saved: true,
      });
      expect((await as(viewer, MAPPINGS, { integrationId: hubspotId })).fieldMappings).toMatchObject({
        conflictPolicy: 'HOLD',
        mappings: expect.arrayContaining([
          { source: 'jobtitle', target: 'custom.title', transform: '$uppercase(jobtitle)', direction: 'INBOUND' },
        ]),
      });
    });

    it('syncs both ways: a HubSpot contact arrives mapped, a NexusFlow contact is pushed', async () => {
      hubspot.crm.createContact({ email: 'ada@hubspot.example', firstname: 'Ada', jobtitle: 'engineer' });
      await as(admin, SAVE_CONTACT, { input: { email: 'grace@nexusflow.example', firstName: 'Grace' } });

      expect(await sync()).toMatchObject({ status: 'COMPLETED', pulled: 1, pushed: 1, conflicts: 0 });
      expect(byEmail(await contacts(), 'ada@hubspot.example')).toMatchObject({ firstName: 'Ada', custom: { title: 'ENGINEER' } });
      expect(hubspot.crm.contactByEmail('grace@nexusflow.example')?.properties).toMatchObject({
        firstname: 'Grace',
        lifecyclestage: 'lead',
      });
      expect((await as(viewer, INTEGRATION, { id: hubspotId })).integration).toMatchObject({
        status: 'CONNECTED',
        lastSyncAt: expect.any(String),
        counts: { syncedRecords: 2, heldConflicts: 0 },
      });
    });

    it('holds a contact changed on both sides, and applies the side an admin chooses', async () => {
      const ada = byEmail(await contacts(), 'ada@hubspot.example');
      const externalId = ada.links[0]!.externalId;
      hubspot.crm.updateContact(externalId, { firstname: 'Ada at HubSpot' });
      await as(admin, SAVE_CONTACT, { input: { id: ada.id, firstName: 'Ada at NexusFlow' } });

      expect(await sync()).toMatchObject({ status: 'COMPLETED', conflicts: 1 });
      const [conflict] = (await as(viewer, CONFLICTS, { integrationId: hubspotId })).syncConflicts;
      expect(conflict).toMatchObject({
        recordId: ada.id,
        nexusflowValues: { firstName: 'Ada at NexusFlow' },
        providerValues: { firstName: 'Ada at HubSpot' },
      });
      expect(hubspot.crm.contacts.get(externalId)?.properties.firstname).toBe('Ada at HubSpot');
      expect((await as(viewer, INTEGRATION, { id: hubspotId })).integration.counts.heldConflicts).toBe(1);

      expect((await as(admin, RESOLVE, { id: conflict.id, choice: 'NEXUSFLOW' })).resolveSyncConflict).toEqual({
        __typename: 'SyncConflictResolved',
        choice: 'NEXUSFLOW',
        contact: { firstName: 'Ada at NexusFlow' },
      });
      expect(hubspot.crm.contacts.get(externalId)?.properties.firstname).toBe('Ada at NexusFlow');
      expect((await as(viewer, CONFLICTS, { integrationId: hubspotId })).syncConflicts).toEqual([]);
      expect((await as(viewer, INTEGRATION, { id: hubspotId })).integration.counts.heldConflicts).toBe(0);
    });

    it('posts to Slack once for each new HubSpot contact its webhook announces, with the text rendered from the event', async () => {
      const created = (
        await as(admin, CREATE_WORKFLOW, {
          input: {
            name: 'Announce new HubSpot contacts',
            steps: [
              {
                key: 'announce',
                type: 'integration',
                config: { action: 'postMessage', integrationId: slackId, channel: '#general', text: ANNOUNCEMENT },
              },
            ],
            triggers: [
              {
                type: 'EVENT',
                eventType: 'integration.data.received',
                filter: 'payload.provider = "HUBSPOT" and payload.eventType = "contact.creation"',
              },
            ],
          },
        })
      ).createWorkflow;
      expect(created.__typename, JSON.stringify(created)).toBe('Workflow');
      const runs = async () =>
        ((await as(admin, RUNS, { id: created.id })).workflow.executions.edges as { node: Execution }[]).map((edge) => edge.node);

      const linus = hubspot.crm.createContact({ email: 'linus@hubspot.example', firstname: 'Linus' });
      const delivery = hubSpotDelivery(hubspot.clientSecret, hubspotWebhookUrl, [hubSpotEvent('contact.creation', Number(linus))]);
      expect((await deliver(hubspotWebhookUrl, delivery)).status).toBe(200);
      await vi.waitFor(async () => expect((await runs()).map((run) => run.status)).toEqual(['COMPLETED']), {
        timeout: 20_000,
        interval: 50,
      });

      const text = `New HubSpot contact #${linus}, created 2026-01-01`;
      const posted = slack.messages.filter((message) => message.text === text);
      expect(posted).toEqual([{ channel: 'C0GENERAL', text, ts: expect.any(String), token: expect.any(String) }]);
      const [run] = await runs();
      expect(run!.input).toMatchObject({ type: 'integration.data.received', payload: { provider: 'HUBSPOT', objectId: linus } });
      expect((await as(admin, EXECUTION, { id: run!.id })).execution.stepRuns).toEqual([
        {
          stepKey: 'announce',
          status: 'COMPLETED',
          output: expect.objectContaining({ action: 'postMessage', provider: 'SLACK', channel: 'C0GENERAL', messageId: posted[0]!.ts }),
        },
      ]);

      // HubSpot retrying the same delivery: accepted, recorded once already, so nothing more is posted.
      expect(await deliver(hubspotWebhookUrl, delivery)).toMatchObject({ status: 200, text: JSON.stringify({ received: 1, new: 0 }) });
      // Another contact afterwards: once its message is there, anything the replay could have posted would be too.
      const margaret = hubspot.crm.createContact({ email: 'margaret@hubspot.example', firstname: 'Margaret' });
      const next = hubSpotDelivery(hubspot.clientSecret, hubspotWebhookUrl, [hubSpotEvent('contact.creation', Number(margaret))]);
      expect((await deliver(hubspotWebhookUrl, next)).status).toBe(200);
      const nextText = `New HubSpot contact #${margaret}, created 2026-01-01`;
      await vi.waitFor(() => expect(slack.messages.map((message) => message.text)).toContain(nextText), { timeout: 20_000, interval: 50 });
      expect(slack.messages.map((message) => message.text)).toEqual([text, nextText]);
      expect(await runs()).toHaveLength(2);
    });
  });
});
