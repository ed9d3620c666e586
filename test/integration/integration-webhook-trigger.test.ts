import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Role } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { FakeHubSpot } from '../../subgraphs/nexusflow/integrations/test/support/fake-providers.ts';
import { deliver, hubSpotDelivery, hubSpotEvent } from '../../subgraphs/nexusflow/integrations/test/support/provider-webhooks.ts';
import { startGraphUnderTest, type GraphUnderTest } from '../support/services.ts';

const CONNECT = 'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { __typename ... on Integration { id webhookUrl webhookVerification } }
}`;
const ROTATE = `mutation ($id: ID!) {
  rotateIntegrationWebhookSecret(id: $id) { __typename ... on IntegrationWebhookSignedByProvider { id } }
}`;
const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) {
  createWorkflow(input: $input) { __typename ... on Workflow { id } ... on InvalidWorkflow { message } }
}`;
const RUNS = 'query ($id: ID!) { workflow(id: $id) { executions(first: 50) { edges { node { id status input } } } } }';

/** Measured one at a time, each until its run exists, for webhook-to-run latency. */
const DELIVERIES = 25;

type Run = { id: string; status: string; input: { type: string; payload: Record<string, unknown> } };

/**
 * A provider's webhook starting a workflow: HubSpot's signed `contact.creation` delivery to the integration's webhook
 * URL becomes an `integration.data.received` event, which the workflow's EVENT trigger (filtered on its payload) turns
 * into exactly one run; a replayed delivery starts nothing new, a forged one nothing at all.
 */
describe('an integration webhook starting a workflow', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    const hubspot = new FakeHubSpot('hubspot-client', 'hubspot-client-secret');
    const admin = { tenantId: randomUUID(), userId: randomUUID() };
    let graph: GraphUnderTest;
    let token: string;
    let integration: { id: string; webhookUrl: string };
    let webhookUrl: string;
    let workflowId: string;

    const send = async (query: string, variables: Record<string, unknown>, roles = [Role.Admin]) => {
      const response = await postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, {
        token: roles.includes(Role.Admin) ? token : await graph.tokenFor({ kind: 'user', ...admin, roles }),
        variables,
      });
      return response;
    };

    const answer = async (query: string, variables: Record<string, unknown>) => {
      const response = await send(query, variables);
      expect(response.errors).toBeUndefined();
      return response.data!;
    };

    const runs = async (): Promise<Run[]> =>
      ((await answer(RUNS, { id: workflowId })).workflow.executions.edges as { node: Run }[]).map((edge) => edge.node);

    const contactCreated = (contactId: number) =>
      hubSpotDelivery(hubspot.clientSecret, webhookUrl, [hubSpotEvent('contact.creation', contactId)]);

    beforeAll(async () => {
      await hubspot.start();
      graph = await startGraphUnderTest('nexusflow', ['integrations', 'workflows'], {
        mode,
        label: `integration_webhook_trigger_${mode}`,
        settings: {
          integrations: {
            INTEGRATIONS_HUBSPOT_CLIENT_ID: hubspot.clientId,
            INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
            INTEGRATIONS_HUBSPOT_BASE_URL: hubspot.origin,
          },
        },
      });
      token = await graph.tokenFor({ kind: 'user', ...admin, roles: [Role.Admin] });
      const started = (await answer(CONNECT, { provider: 'HUBSPOT' })).connectIntegration;
      const { code, state } = await hubspot.consent(started.authorizationUrl);
      integration = (await answer(COMPLETE, { state, code })).completeIntegrationConnection;
      webhookUrl = `${graph.subgraphs.integrations!.url}${new URL(integration.webhookUrl).pathname}`;
      const created = (
        await answer(CREATE_WORKFLOW, {
          input: {
            name: 'Welcome new HubSpot contacts',
            steps: [{ key: 'welcome', type: 'transform', config: { template: { welcomed: true } } }],
            triggers: [
              {
                type: 'EVENT',
                eventType: 'integration.data.received',
                filter: `payload.integrationId = "${integration.id}" and payload.eventType = "contact.creation"`,
              },
            ],
          },
        })
      ).createWorkflow;
      expect(created.__typename, JSON.stringify(created)).toBe('Workflow');
      workflowId = created.id;
    });

    afterAll(async () => {
      await graph?.close();
      await hubspot.close();
    });

    it('starts exactly one run per signed contact.creation delivery, with the contact in its input; a replay or a forgery starts none', async () => {
      const delivery = contactCreated(5101);
      expect((await deliver(webhookUrl, delivery)).status).toBe(200);
      await vi.waitFor(async () => expect(await runs()).toHaveLength(1), { timeout: 20_000, interval: 50 });
      expect((await runs())[0]!.input).toMatchObject({
        type: 'integration.data.received',
        tenantId: admin.tenantId,
        payload: {
          provider: 'HUBSPOT',
          integrationId: integration.id,
          eventType: 'contact.creation',
          objectType: 'contact',
          objectId: '5101',
        },
      });

      expect(await deliver(webhookUrl, delivery)).toMatchObject({ status: 200, text: JSON.stringify({ received: 1, new: 0 }) });
      const forged = hubSpotDelivery('a-guessed-secret', webhookUrl, [hubSpotEvent('contact.creation', 5102)]);
      expect((await deliver(webhookUrl, forged)).status).toBe(401);
      // Another contact afterwards: once its run is there, anything the replay or the forgery could have started would be too.
      expect((await deliver(webhookUrl, contactCreated(5103))).status).toBe(200);
      await vi.waitFor(async () => expect((await runs()).length).toBeGreaterThanOrEqual(2), { timeout: 20_000, interval: 50 });
      expect((await runs()).map((run) => run.input.payload.objectId).sort()).toEqual(['5101', '5103']);
    });

    it('starts no run for HubSpot events the trigger filters out', async () => {
      const before = (await runs()).length;
      expect(
        (await deliver(webhookUrl, hubSpotDelivery(hubspot.clientSecret, webhookUrl, [hubSpotEvent('contact.deletion', 5201)]))).status,
      ).toBe(200);
      expect((await deliver(webhookUrl, contactCreated(5202))).status).toBe(200);
      await vi.waitFor(async () => expect((await runs()).length).toBe(before + 1), { timeout: 20_000, interval: 50 });
      expect((await runs()).map((run) => run.input.payload.objectId)).not.toContain('5201');
    });

    it('measures the time to the 2xx and from the delivery to its run (p50, p99)', async () => {
      const receipts: number[] = [];
      const toRun: number[] = [];
      for (let index = 0; index < DELIVERIES; index += 1) {
        const before = (await runs()).length;
        const sentAt = performance.now();
        expect((await deliver(webhookUrl, contactCreated(6000 + index))).status).toBe(200);
        receipts.push(performance.now() - sentAt);
        await vi.waitFor(async () => expect((await runs()).length).toBe(before + 1), { timeout: 20_000, interval: 10 });
        toRun.push(performance.now() - sentAt);
      }
      const percentile = (values: number[], p: number) =>
        [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)]!;
      const figure = (values: number[]) => `p50 ${percentile(values, 50).toFixed(1)} ms, p99 ${percentile(values, 99).toFixed(1)} ms`;
      console.info(
        `[figures] ${mode}: webhook receipt ${figure(receipts)}; webhook to run ${figure(toRun)} (${DELIVERIES} deliveries, one at a time)`,
      );
      expect(receipts).toHaveLength(DELIVERIES);
    }, 120_000);

    it('tells an admin through the gateway that HubSpot signs with its app secret, and refuses a VIEWER', async () => {
      expect((await answer(ROTATE, { id: integration.id })).rotateIntegrationWebhookSecret).toEqual({
        __typename: 'IntegrationWebhookSignedByProvider',
        id: integration.id,
      });
      const refused = await send(ROTATE, { id: integration.id }, [Role.Viewer]);
      expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    });
  });
});
