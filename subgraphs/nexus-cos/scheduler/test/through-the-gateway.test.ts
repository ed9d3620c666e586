import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';

const CREATE = 'mutation ($input: CreateScheduledTaskInput!) { createScheduledTask(input: $input) { id name } }';
const LIST = '{ scheduledTasks(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { scheduledTask(id: $id) { id name } }';

describe('the scheduler subgraph through the nexus-cos gateway', () => {
  let graph: GraphUnderTest;

  beforeAll(async () => {
    graph = await startGraphUnderTest('nexus-cos', ['scheduler'], { label: 'scheduler_gateway' });
  });

  afterAll(async () => {
    await graph?.close();
  });

  const send = async (roles: Role[], tenantId: string, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, {
      token: await graph.tokenFor({ kind: 'user', userId: randomUUID(), tenantId, roles }),
      variables,
    });

  it("creates, lists and finds scheduledTasks of the caller's tenant", async () => {
    const tenantId = randomUUID();
    const created = (await send([Role.Member], tenantId, CREATE, { input: { name: 'Through the gateway' } })).data?.createScheduledTask;
    expect(created).toEqual({ id: expect.any(String), name: 'Through the gateway' });
    expect((await send([Role.Viewer], tenantId, LIST)).data).toEqual({ scheduledTasks: [created] });
    expect((await send([Role.Viewer], tenantId, FIND, { id: created.id })).data).toEqual({ scheduledTask: created });
  });

  it("refuses a VIEWER's create with FORBIDDEN and a request without a token with UNAUTHENTICATED", async () => {
    const refused = await send([Role.Viewer], randomUUID(), CREATE, { input: { name: 'Not allowed' } });
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    const anonymous = await postGraphQL(graph.gateway.graphqlUrl, CREATE, { variables: { input: { name: 'Nobody' } } });
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });
});
