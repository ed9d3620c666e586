import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { signatureHeader } from '../../subgraphs/nexusflow/workflows/src/triggers/webhook-signing.ts';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { ask } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { WorkflowWatch } from '../support/workflow-watch.ts';

const WEBHOOK_FIELDS = 'webhook { url secret secretCreatedAt previousSecretExpiresAt }';
const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) {
  createWorkflow(input: $input) {
    __typename
    ... on Workflow { id tenant { id } triggers { type eventType filter } ${WEBHOOK_FIELDS} }
    ... on InvalidWorkflow { message problems { field problem } }
  }
}`;
const WORKFLOW = `query ($id: ID!) { workflow(id: $id) { id ${WEBHOOK_FIELDS} executions(first: 50) { edges { node { id status input } } } } }`;
const ROTATE_SECRET = `mutation ($id: ID!) {
  rotateWorkflowWebhookSecret(id: $id) {
    __typename
    ... on Workflow { id ${WEBHOOK_FIELDS} }
    ... on WorkflowError { message }
  }
}`;

const STEPS = [{ key: 'echo', type: 'transform', config: { template: { seen: true } } }];

interface Webhook {
  url: string;
  secret: string | null;
  secretCreatedAt: string;
  previousSecretExpiresAt?: string | null;
}

interface CreatedWorkflow {
  id: string;
  tenant: { id: string };
  webhook: Webhook | null;
}

/** EVENT and WEBHOOK triggers starting runs, through the gateway and the workflows service's webhook route, in each storage mode. */
describe('workflow triggers', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let owner: SignedUp;
    let stranger: SignedUp;
    const watches: WorkflowWatch[] = [];

    async function createWorkflow(account: SignedUp, triggers: unknown[]) {
      const response = await ask(stack, account.token, CREATE_WORKFLOW, {
        input: { name: `Triggered ${randomUUID().slice(0, 8)}`, steps: STEPS, triggers },
      });
      expect(response.errors).toBeUndefined();
      return response.data!.createWorkflow;
    }

    async function createTriggered(account: SignedUp, triggers: unknown[]) {
      const workflow = await createWorkflow(account, triggers);
      if (workflow.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(workflow)}`);
      const watch = await WorkflowWatch.start(stack.workflows.pubsub, workflow.id);
      watches.push(watch);
      return { workflow: workflow as CreatedWorkflow, watch };
    }

    type Run = { id: string; status: string; input: unknown };

    async function executionsOf(account: SignedUp, id: string): Promise<Run[]> {
      const response = await ask<{ workflow: { executions: { edges: { node: Run }[] } } }>(stack, account.token, WORKFLOW, { id });
      expect(response.errors).toBeUndefined();
      return response.data!.workflow.executions.edges.map((edge) => edge.node);
    }

    /** Each test's events come from a source of its own, so that no other test's triggers match them. */
    const uniqueSource = () => `source${randomUUID().slice(0, 8)}`;

    const event = (tenantId: string, payload: Record<string, unknown>, type = 'crm.contact.created'): DomainEvent => ({
      id: randomUUID(),
      type,
      occurredAt: new Date().toISOString(),
      tenantId,
      payload,
    });

    /** A delivery as a sender makes it: its id, the body, and the signature over both with the timestamp. */
    function deliver(webhook: Webhook, secret: string, body: string, options: { deliveryId?: string; signedAt?: Date } = {}) {
      const deliveryId = options.deliveryId ?? randomUUID();
      const timestamp = Math.floor((options.signedAt ?? new Date()).getTime() / 1000);
      return fetch(`${stack.workflows.url}${new URL(webhook.url).pathname}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-nexusflow-delivery': deliveryId,
          'x-nexusflow-signature': signatureHeader(secret, timestamp, deliveryId, body),
        },
        body,
      });
    }

    beforeAll(async () => {
      stack = await startStack(mode, `workflow_triggers_${mode}`);
      [owner, stranger] = await Promise.all([
        signUp(stack.gateway.graphqlUrl, 'triggers'),
        signUp(stack.gateway.graphqlUrl, 'other-tenant'),
      ]);
    });

    afterEach(async () => {
      for (const watch of watches.splice(0)) await watch.close();
    });

    afterAll(async () => {
      await stack?.close();
    });

    describe('EVENT triggers', () => {
      it('start one run per matching event on the bus, with the event as input', async () => {
        const { workflow, watch } = await createTriggered(owner, [
          { type: 'EVENT', eventType: 'crm.contact.*', filter: 'payload.score > 50 and $contains(payload.email, "@")' },
        ]);
        const matching = event(workflow.tenant.id, { score: 80, email: 'ada@example.com' });
        await stack.workflows.eventBus.publish(matching);

        const started = await watch.next((update) => update.type === 'workflow.execution.started');
        expect(await watch.finished(started.executionId)).toMatchObject({ status: 'COMPLETED' });
        expect(await executionsOf(owner, workflow.id)).toEqual([{ id: started.executionId, status: 'COMPLETED', input: { ...matching } }]);
      });

      it('start nothing more when an event is delivered again, even twice at once', async () => {
        const source = uniqueSource();
        const { workflow, watch } = await createTriggered(owner, [{ type: 'EVENT', eventType: `${source}.#` }]);
        const once = event(workflow.tenant.id, { n: 1 }, `${source}.deal.won`);
        const triggers = stack.workflows.services.eventTriggers;

        const deliveries = await Promise.all([triggers.handle(once), triggers.handle(once)]);
        expect(deliveries.flat()).toEqual([workflow.id]);
        expect(await triggers.handle(once)).toEqual([]);

        const runs = await executionsOf(owner, workflow.id);
        expect(runs).toHaveLength(1);
        await watch.finished(runs[0]!.id);
      });

      it('start nothing for an event its filter does not hold for, or of another type', async () => {
        const source = uniqueSource();
        const { workflow } = await createTriggered(owner, [
          { type: 'EVENT', eventType: `${source}.created`, filter: 'payload.score > 50' },
        ]);
        const triggers = stack.workflows.services.eventTriggers;

        expect(await triggers.handle(event(workflow.tenant.id, { score: 10 }, `${source}.created`))).toEqual([]);
        expect(await triggers.handle(event(workflow.tenant.id, {}, `${source}.created`))).toEqual([]);
        expect(await triggers.handle(event(workflow.tenant.id, { score: 99 }, `${source}.deleted`))).toEqual([]);
        expect(await executionsOf(owner, workflow.id)).toEqual([]);
      });

      it("start nothing for another tenant's event", async () => {
        const { workflow } = await createTriggered(owner, [{ type: 'EVENT', eventType: 'crm.contact.created' }]);
        const other = await createTriggered(stranger, [{ type: 'EVENT', eventType: 'billing.invoice.paid' }]);

        const started = await stack.workflows.services.eventTriggers.handle(event(other.workflow.tenant.id, { score: 99 }));
        expect(started).not.toContain(workflow.id);
        expect(await executionsOf(owner, workflow.id)).toEqual([]);
      });

      it('refuses a filter that is not JSONata when the workflow is saved, naming the trigger and where the error is', async () => {
        const refused = await createWorkflow(owner, [
          { type: 'MANUAL' },
          { type: 'EVENT', eventType: 'crm.contact.created', filter: 'payload.score >' },
        ]);
        expect(refused).toEqual({
          __typename: 'InvalidWorkflow',
          message: 'The workflow definition is invalid',
          problems: [
            {
              field: 'triggers.1.filter',
              problem:
                'trigger 2 (EVENT crm.contact.created): the filter is not a valid JSONata expression: Unexpected end of expression (at character 15)',
            },
          ],
        });
      });

      it("refuses patterns that reach the workflow engine's own events, which would start runs for ever", async () => {
        const refused = await createWorkflow(owner, [
          { type: 'EVENT', eventType: 'workflow.execution.failed' },
          { type: 'EVENT', eventType: '#' },
          { type: 'EVENT' },
        ]);
        expect(refused.problems).toEqual([
          {
            field: 'triggers.0.eventType',
            problem:
              "trigger 1 (EVENT workflow.execution.failed): may not listen to the workflow engine's own events (workflow.…): each run would start another",
          },
          {
            field: 'triggers.1.eventType',
            problem: `trigger 2 (EVENT #): must start with the events' source, e.g. "integration.#", not with a wildcard`,
          },
          {
            field: 'triggers.2.eventType',
            problem: 'trigger 3 (EVENT): an EVENT trigger needs the event type it listens to, e.g. "integration.data.received"',
          },
        ]);
      });
    });

    describe('WEBHOOK triggers', () => {
      it('show the secret once, when the workflow is created, and never again', async () => {
        const { workflow } = await createTriggered(owner, [{ type: 'WEBHOOK' }]);
        expect(workflow.webhook).toMatchObject({
          url: expect.stringMatching(new RegExp(`/webhooks/workflows/${workflow.id}$`)),
          secret: expect.stringMatching(/^whsec_[\w-]{43}$/),
        });
        const later = await ask(stack, owner.token, WORKFLOW, { id: workflow.id });
        expect(later.data?.workflow.webhook).toEqual({ ...workflow.webhook, secret: null });
      });

      it('start exactly one run per delivery, answering 202 with its id, and 200 with the same id when a delivery id repeats', async () => {
        const { workflow, watch } = await createTriggered(owner, [{ type: 'WEBHOOK' }]);
        const webhook = workflow.webhook!;
        const payload = JSON.stringify({ contact: { email: 'grace@example.com' } });
        const deliveryId = `evt_${randomUUID()}`;

        const first = await deliver(webhook, webhook.secret!, payload, { deliveryId });
        expect(first.status).toBe(202);
        const { executionId } = (await first.json()) as { executionId: string };
        expect(await watch.finished(executionId)).toMatchObject({ status: 'COMPLETED' });

        const again = await deliver(webhook, webhook.secret!, payload, { deliveryId });
        expect(again.status).toBe(200);
        expect(await again.json()).toEqual({ executionId });
        expect(await executionsOf(owner, workflow.id)).toEqual([
          { id: executionId, status: 'COMPLETED', input: { contact: { email: 'grace@example.com' } } },
        ]);
      });

      it('refuse a forged signature, a replayed (old) delivery and an oversized body, starting nothing', async () => {
        const { workflow } = await createTriggered(owner, [{ type: 'WEBHOOK' }]);
        const webhook = workflow.webhook!;
        const body = JSON.stringify({ ok: true });

        expect((await deliver(webhook, 'whsec_not-the-secret', body)).status).toBe(401);
        const sixMinutesAgo = new Date(Date.now() - 6 * 60_000);
        const replayed = await deliver(webhook, webhook.secret!, body, { signedAt: sixMinutesAgo });
        expect(replayed.status).toBe(401);
        expect(await replayed.json()).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
        const oversized = JSON.stringify({ blob: 'x'.repeat(stack.workflowsConfig.webhooks.maxBodyBytes) });
        expect((await deliver(webhook, webhook.secret!, oversized)).status).toBe(413);
        const unsigned = await fetch(`${stack.workflows.url}${new URL(webhook.url).pathname}`, {
          method: 'POST',
          headers: { 'x-nexusflow-delivery': randomUUID() },
          body,
        });
        expect(unsigned.status).toBe(401);

        expect(await executionsOf(owner, workflow.id)).toEqual([]);
      });

      it('rotate the secret: the response shows the new one, the old one works for a day more, and the one before it stops', async () => {
        const { workflow, watch } = await createTriggered(owner, [{ type: 'WEBHOOK' }]);
        const old = workflow.webhook!;
        expect(old.previousSecretExpiresAt).toBeNull();
        const rotatedAt = Date.now();
        const rotated = (await ask(stack, owner.token, ROTATE_SECRET, { id: workflow.id })).data?.rotateWorkflowWebhookSecret;
        expect(rotated).toMatchObject({ __typename: 'Workflow', webhook: { url: old.url, secret: expect.stringMatching(/^whsec_/) } });
        expect(rotated.webhook.secret).not.toBe(old.secret);
        const graceEnds = Date.parse(rotated.webhook.previousSecretExpiresAt) - rotatedAt;
        expect(graceEnds).toBeGreaterThanOrEqual(24 * 3600_000 - 60_000);
        expect(graceEnds).toBeLessThanOrEqual(24 * 3600_000 + 60_000);

        for (const secret of [old.secret!, rotated.webhook.secret]) {
          const accepted = await deliver(old, secret, '{}');
          expect(accepted.status).toBe(202);
          await watch.finished(((await accepted.json()) as { executionId: string }).executionId);
        }
        const again = (await ask(stack, owner.token, ROTATE_SECRET, { id: workflow.id })).data?.rotateWorkflowWebhookSecret;
        expect((await deliver(old, old.secret!, '{}')).status).toBe(401);
        for (const secret of [rotated.webhook.secret, again.webhook.secret]) {
          const accepted = await deliver(old, secret, '{}');
          expect(accepted.status).toBe(202);
          await watch.finished(((await accepted.json()) as { executionId: string }).executionId);
        }
      });

      it('have no webhook, and no secret to rotate, on a workflow without a WEBHOOK trigger', async () => {
        const { workflow } = await createTriggered(owner, [{ type: 'MANUAL' }]);
        expect(workflow.webhook).toBeNull();
        const refused = (await ask(stack, owner.token, ROTATE_SECRET, { id: workflow.id })).data?.rotateWorkflowWebhookSecret;
        expect(refused).toEqual({ __typename: 'WorkflowHasNoWebhook', message: 'The workflow has no WEBHOOK trigger' });
        expect(
          (await deliver({ url: `http://x/webhooks/workflows/${workflow.id}`, secret: null, secretCreatedAt: '' }, 'whsec_x', '{}')).status,
        ).toBe(404);
      });
    });
  });
});
