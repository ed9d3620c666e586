import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { ask } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';

const CREATE_API_KEY = `mutation CreateCiKey($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { __typename ... on CreatedApiKey { secret apiKey { id } } }
}`;
const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id } } }`;
const TRAIL = `query ($filter: AuditEntryFilterInput) {
  auditEntries(filter: $filter, first: 100) { edges { node { sequence source action outcome actor { kind id } details } } }
}`;

interface TrailEntry {
  sequence: number;
  source: string;
  action: string;
  outcome: string;
  actor: { kind: string; id: string | null };
  details: Record<string, unknown>;
}

/**
 * The trail of a whole tenant, every service running: what auth publishes on the bus, a CI job's mutation with an API
 * key, an owner reading a field marked @sensitive; then the owner proves the trail intact. The gateway's records take
 * the way its configuration gives them: the bus with RabbitMQ, calls to audit without (embedded, as `npm start`).
 */
describe.each(storageModes(['postgres', 'redis', 'amqp']))('an audit trail of a tenant, every service running, on $storage', ({ mode }) => {
  let stack: Stack;
  let owner: SignedUp;

  beforeAll(async () => {
    stack = await startStack(mode, `audit_journey_${mode}`);
    owner = await signUp(stack.gateway.graphqlUrl, 'audit');
  });

  afterAll(async () => {
    await stack?.close();
  });

  const trail = async (filter: Record<string, unknown> = {}): Promise<TrailEntry[]> => {
    const response = await ask<{ auditEntries: { edges: { node: TrailEntry }[] } }>(stack, owner.token, TRAIL, { filter });
    expect(response.errors).toBeUndefined();
    return response.data!.auditEntries.edges.map(({ node }) => node);
  };

  it("records the services' events, an API key's mutation and a sensitive read, and proves the chain intact", async () => {
    const created = (await ask(stack, owner.token, CREATE_API_KEY, { input: { name: 'CI', scopes: ['write'] } })).data?.createApiKey;
    expect(created.__typename).toBe('CreatedApiKey');
    const keyId = created.apiKey.id as string;
    const byKey = await postGraphQL<Record<string, any>>(stack.gateway.graphqlUrl, CREATE_WORKFLOW, {
      headers: { 'x-api-key': created.secret as string },
      variables: { input: { name: 'Built by CI', steps: [{ key: 'done', type: 'transform', config: { template: {} } }] } },
    });
    expect(byKey.data?.createWorkflow.__typename).toBe('Workflow');
    expect((await ask(stack, owner.token, '{ apiKeys { id prefix } }')).errors).toBeUndefined();

    await vi.waitFor(
      async () => {
        const actions = (await trail()).map(({ action }) => action);
        for (const action of [
          'user.registered',
          'mutation.createApiKey',
          'apikey.created',
          'mutation.createWorkflow',
          'read.ApiKey.prefix',
        ])
          expect(actions).toContain(action);
      },
      { timeout: 30_000, interval: 200 },
    );
    const keyMutations = await trail({ actor: keyId, action: 'mutation.createWorkflow' });
    expect(keyMutations).toHaveLength(1);
    expect(keyMutations[0]).toMatchObject({ source: 'MUTATION', outcome: 'SUCCESS', actor: { kind: 'API_KEY', id: keyId } });
    const [createKey] = await trail({ action: 'mutation.createApiKey' });
    expect(createKey).toMatchObject({
      actor: { kind: 'USER', id: owner.userId },
      details: { operationName: 'CreateCiKey', roles: ['OWNER'] },
    });
    const [sensitive] = await trail({ action: 'read.ApiKey.prefix' });
    expect(sensitive).toMatchObject({ source: 'SENSITIVE_READ', details: { fields: ['ApiKey.prefix'] } });

    // Embedded, as under `npm start`, the gateway shares no bus with the services and calls audit; with RabbitMQ it publishes.
    const deliveredBy = async (transport: string) =>
      (await stack.gateway.metrics.registry.getSingleMetric('gateway_audit_records_delivered_total')?.get())?.values.find(
        ({ labels }) => labels.transport === transport,
      )?.value;
    // Counted when the reply arrives, which may be after audit has appended.
    await expect.poll(() => deliveredBy(mode === 'embedded' ? 'http' : 'bus')).toBeGreaterThanOrEqual(3);
    expect(await deliveredBy(mode === 'embedded' ? 'bus' : 'http')).toBeUndefined();

    const verified = (await ask(stack, owner.token, '{ verifyAuditTrail { intact checkedEntries firstBreak { sequence } } }')).data
      ?.verifyAuditTrail;
    expect(verified).toMatchObject({ intact: true, firstBreak: null });
    expect(verified.checkedEntries).toBeGreaterThanOrEqual(5);
  });

  it('refuses text PostgreSQL cannot store at the edge, recording nothing of it, and goes on recording', async () => {
    // Refused at the edge, before any operation runs (so, like every request refused there, not recorded).
    for (const name of ['Nul \u0000', 'Half \uD800 of a pair and \uDC00 the other']) {
      const refused = await ask(stack, owner.token, CREATE_WORKFLOW, {
        input: { name, steps: [{ key: 'done', type: 'transform', config: { template: {} } }] },
      });
      expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    const after = await ask(stack, owner.token, CREATE_API_KEY, { input: { name: 'after the odd one', scopes: ['read'] } });
    expect(after.data?.createApiKey.__typename).toBe('CreatedApiKey');

    await vi.waitFor(
      async () => {
        const keys = (await trail({ action: 'mutation.createApiKey' })).map(({ details }) => JSON.stringify(details));
        expect(keys.some((details) => details.includes('after the odd one'))).toBe(true);
      },
      { timeout: 30_000, interval: 200 },
    );
    const workflows = (await trail({ action: 'mutation.createWorkflow' })).map(({ details }) => JSON.stringify(details));
    expect(workflows.filter((details) => details.includes('Nul') || details.includes('of a pair'))).toEqual([]);
    const verified = (await ask(stack, owner.token, '{ verifyAuditTrail { intact } }')).data?.verifyAuditTrail;
    expect(verified).toEqual({ intact: true });
  });
});
