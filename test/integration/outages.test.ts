import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_UNAVAILABLE_MESSAGE } from '@nexusflow/kit';
import { createTestDatabase, TcpProxy, postGraphQL, testEnvironment, type TestDatabase } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, LoginDocument } from '@nexusflow/web-client';
import { signUp, TEST_PASSWORD, type SignedUp } from '../support/accounts.ts';
import { startStack, type Stack } from '../support/stack.ts';

const ME = '{ me { id email } }';
const WORKFLOWS = '{ workflows(first: 10) { edges { node { id name } } } }';

/** How soon after PostgreSQL comes back the platform must answer as before it went. */
const RECOVERY_DEADLINE_MS = 10_000;

/** What a client of the gateway is told while a subgraph's database is away: retry, at this path; nothing about where. */
const unavailableAt = (path: string) =>
  expect.objectContaining({
    message: SERVICE_UNAVAILABLE_MESSAGE,
    path: [path],
    extensions: expect.objectContaining({ code: 'SERVICE_UNAVAILABLE' }),
  });

/** Polls until the platform answers normally again, and says how long that took after the restore. */
async function recoveryTime(isNormal: () => Promise<boolean>): Promise<number> {
  const restoredAt = Date.now();
  await expect.poll(isNormal, { timeout: RECOVERY_DEADLINE_MS, interval: 100 }).toBe(true);
  return Date.now() - restoredAt;
}

// Each subgraph under test reaches its own database through an TcpProxy: cutting it is what a PostgreSQL crash or
// restart looks like from that subgraph (connections reset, new ones refused), while every other test file keeps the server.
describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)(
  'PostgreSQL going away under one subgraph',
  () => {
    let stack: Stack;
    let authDatabase: TestDatabase;
    let workflowsDatabase: TestDatabase;
    let authPostgres: TcpProxy;
    let workflowsPostgres: TcpProxy;
    let owner: SignedUp;
    let workflowId: string;

    const login = (email: string) =>
      postGraphQL(stack.gateway.graphqlUrl, LoginDocument, { variables: { input: { email, password: TEST_PASSWORD } } });
    const me = () => postGraphQL<{ me: { id: string; email: string } }>(stack.gateway.graphqlUrl, ME, { token: owner.token });
    const workflows = () =>
      postGraphQL<{ workflows: { edges: { node: { id: string; name: string } }[] } }>(stack.gateway.graphqlUrl, WORKFLOWS, {
        token: owner.token,
      });
    const createWorkflow = (name: string) =>
      postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
        token: owner.token,
        variables: { input: { name, steps: [{ key: 'call', type: 'http', config: { url: '{{input.url}}' } }] } },
      });

    beforeAll(async () => {
      const serverUrl = testEnvironment.postgresUrl!;
      authDatabase = await createTestDatabase(serverUrl, 'outages_auth_proxied');
      workflowsDatabase = await createTestDatabase(serverUrl, 'outages_workflows_proxied');
      authPostgres = await TcpProxy.start(serverUrl);
      workflowsPostgres = await TcpProxy.start(serverUrl);
      stack = await startStack('postgres', 'outages', {
        auth: { DATABASE_URL: authPostgres.urlFor(authDatabase.url) },
        workflows: { DATABASE_URL: workflowsPostgres.urlFor(workflowsDatabase.url) },
      });
      owner = await signUp(stack.gateway.graphqlUrl, 'outages');
      const created = (await createWorkflow('Written before the outage')).data?.createWorkflow;
      if (created?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
      workflowId = created.id;
    });

    afterAll(async () => {
      authPostgres?.bringUp();
      workflowsPostgres?.bringUp();
      await stack?.close();
      await authPostgres?.close();
      await workflowsPostgres?.close();
      await authDatabase?.drop();
      await workflowsDatabase?.drop();
    });

    it('answers login and me with SERVICE_UNAVAILABLE at their paths while auth’s database is down, and normally within 10 s of its return, with every account kept', async () => {
      authPostgres.takeDown();

      const refusedLogin = await login(owner.email);
      expect(refusedLogin.status).toBe(200);
      expect(refusedLogin.errors).toEqual([unavailableAt('login')]);
      expect(refusedLogin.data).toBeNull();
      expect((await me()).errors).toEqual([unavailableAt('me')]);
      // The other subgraphs keep serving: an access token is checked by the gateway, not looked up in auth's database.
      expect((await workflows()).data?.workflows.edges.map(({ node }) => node.id)).toEqual([workflowId]);

      authPostgres.bringUp();

      const recoveredInMs = await recoveryTime(async () => (await login(owner.email)).data?.login.__typename === 'AuthSession');
      expect(recoveredInMs).toBeLessThan(RECOVERY_DEADLINE_MS);
      expect((await me()).data?.me).toEqual({ id: owner.userId, email: owner.email });
    });

    it('answers the workflows query and createWorkflow with SERVICE_UNAVAILABLE while the workflows database is down, and normally within 10 s of its return, with every workflow kept', async () => {
      workflowsPostgres.takeDown();

      const refusedList = await workflows();
      expect(refusedList.errors).toEqual([unavailableAt('workflows')]);
      const refusedCreate = await createWorkflow('Written during the outage');
      expect(refusedCreate.errors).toEqual([unavailableAt('createWorkflow')]);
      expect((await me()).data?.me.email).toBe(owner.email);

      workflowsPostgres.bringUp();

      const recoveredInMs = await recoveryTime(async () => (await workflows()).data?.workflows.edges.length === 1);
      expect(recoveredInMs).toBeLessThan(RECOVERY_DEADLINE_MS);
      expect((await workflows()).data?.workflows.edges.map(({ node }) => node.name)).toEqual(['Written before the outage']);
      expect((await createWorkflow('Written after the outage')).data?.createWorkflow).toMatchObject({ __typename: 'Workflow' });
    });
  },
);
