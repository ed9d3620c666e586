import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, postGraphQL, storageModes, testEnvironment } from '@nexusflow/kit/testing';
import type { WorkflowServices } from '../src/context.ts';
import { subgraph as workflows } from '../src/subgraph.ts';
import { signatureHeader } from '../src/triggers/webhook-signing.ts';

const GRACE_HOURS = 24;
const WEBHOOK = 'webhook { url secret secretCreatedAt previousSecretExpiresAt }';
const CREATE = `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id ${WEBHOOK} } } }`;
const ROTATE = `mutation ($id: ID!) { rotateWorkflowWebhookSecret(id: $id) { __typename ... on Workflow { ${WEBHOOK} } } }`;
const WORKFLOW = `query ($id: ID!) { workflow(id: $id) { ${WEBHOOK} } }`;

/**
 * A workflow webhook's secret rotated while a sender still signs with the old one: both verify during the grace
 * (WEBHOOK_SECRET_GRACE_HOURS), only the new one after it, on a clock the test moves.
 */
describe('rotating a workflow webhook’s secret', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    const clock = { now: Date.now() };
    const identity: Identity = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Owner] };
    const cleanups: (() => Promise<void>)[] = [];
    let subgraph: RunningSubgraph<WorkflowServices>;

    beforeAll(async () => {
      const dataDir = await createTempDirectory(`workflow-webhook-rotation-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Record<string, string> = {
        PORT: '0',
        DATA_DIR: dataDir.path,
        LOG_LEVEL: 'silent',
        RUN_WORKER: 'false',
        WEBHOOK_SECRET_GRACE_HOURS: String(GRACE_HOURS),
      };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, 'workflow_webhook_rotation');
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
      }
      subgraph = await workflows.start(env, { now: () => clock.now, clock: () => clock.now });
    });

    afterAll(async () => {
      await subgraph?.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    async function answer(query: string, variables: Record<string, unknown>): Promise<Record<string, any>> {
      const response = await postGraphQL<Record<string, any>>(subgraph.graphqlUrl, query, {
        variables,
        headers: signIdentity(identity, subgraph.config.internalSecret, clock.now),
      });
      if (response.errors) throw new Error(JSON.stringify(response.errors));
      return response.data!;
    }

    /** The status a delivery signed now with `secret` is answered; each is a new delivery. */
    async function deliveryStatus(url: string, secret: string): Promise<number> {
      const deliveryId = randomUUID();
      const body = '{"deal":1}';
      const response = await fetch(`${subgraph.url}${new URL(url).pathname}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-nexusflow-delivery': deliveryId,
          'x-nexusflow-signature': signatureHeader(secret, Math.floor(clock.now / 1000), deliveryId, body),
        },
        body,
      });
      return response.status;
    }

    it('accepts both secrets until the grace ends, then only the new one', async () => {
      const created = (
        await answer(CREATE, {
          input: {
            name: `Rotation ${randomUUID().slice(0, 8)}`,
            steps: [{ key: 'echo', type: 'transform', config: { template: { ok: true } } }],
            triggers: [{ type: 'WEBHOOK' }],
          },
        })
      ).createWorkflow;
      const { url, secret: first } = created.webhook as { url: string; secret: string };
      const rotatedAt = clock.now;
      const rotated = (await answer(ROTATE, { id: created.id })).rotateWorkflowWebhookSecret.webhook;
      const graceEnds = new Date(rotatedAt + GRACE_HOURS * 3600_000).toISOString();
      expect(rotated).toMatchObject({ secret: expect.stringMatching(/^whsec_/), previousSecretExpiresAt: graceEnds });
      const second = rotated.secret as string;

      clock.now = rotatedAt + GRACE_HOURS * 3600_000 - 1000;
      expect(await deliveryStatus(url, first)).toBe(202);
      expect(await deliveryStatus(url, second)).toBe(202);
      expect((await answer(WORKFLOW, { id: created.id })).workflow.webhook).toMatchObject({
        secret: null,
        previousSecretExpiresAt: graceEnds,
      });

      clock.now = rotatedAt + GRACE_HOURS * 3600_000;
      expect(await deliveryStatus(url, first)).toBe(401);
      expect(await deliveryStatus(url, second)).toBe(202);
      expect((await answer(WORKFLOW, { id: created.id })).workflow.webhook.previousSecretExpiresAt).toBeNull();
    });
  });
});
