import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTempDirectory, postGraphQL, testEnvironment } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, LoginDocument, MyNotificationsDocument, RunWorkflowDocument } from '@nexusflow/web-client';
import { GATEWAY, readTopology } from '../scripts/topology.ts';
import { freePortOffset, launchScript, type LaunchedProcess } from './support/processes.ts';

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { __typename ... on AuthSession { user { id } } } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { __typename ... on AuthSession { accessToken } } }`;
const ME = `{ me { id email tenant { name } } }`;

async function registerLoginMe(graphqlUrl: string) {
  const email = `launch-${randomUUID()}@example.com`;
  const password = 'launcher password 1';
  const registered = await postGraphQL<{ register: { __typename: string; user: { id: string } } }>(graphqlUrl, REGISTER, {
    variables: { input: { email, password, name: 'Grace Hopper', tenantName: 'Launch Co' } },
  });
  expect(registered.data?.register.__typename).toBe('AuthSession');
  const login = await postGraphQL<{ login: { accessToken: string } }>(graphqlUrl, LOGIN, { variables: { input: { email, password } } });
  const me = await postGraphQL<{ me: { id: string; email: string; tenant: { name: string } } }>(graphqlUrl, ME, { token: login.data?.login.accessToken });
  expect(me.data?.me).toEqual({ id: registered.data?.register.user.id, email, tenant: { name: 'Launch Co' } });
  return { email, password };
}

async function launch(args: string[], env: NodeJS.ProcessEnv): Promise<{ launcher: LaunchedProcess; gatewayUrl: string }> {
  const subgraphs = await readTopology();
  const offset = await freePortOffset([GATEWAY.port, ...subgraphs.map((subgraph) => subgraph.port)]);
  const launcher = launchScript('scripts/launch.ts', [...args, '--port-offset', String(offset)], { ...process.env, LOG_LEVEL: 'warn', ...env });
  const line = await launcher.waitForLine(/^\s+GraphQL\s+http/);
  return { launcher, gatewayUrl: line.trim().split(/\s+/)[1]! };
}

// Each launch starts every service; on two cores that takes a while, hence the longer timeouts.
describe('the launcher', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('runs the subgraphs and the gateway on embedded defaults, with events flowing between services, and stops them all on SIGTERM', async () => {
    const dataDir = await createTempDirectory('launch-embedded');
    cleanups.push(dataDir.remove);
    const { launcher, gatewayUrl } = await launch([], { DATA_DIR: dataDir.path });
    cleanups.push(() => launcher.stop('SIGKILL'));
    const { email, password } = await registerLoginMe(gatewayUrl);

    // A run that fails (a step calling a private address, which embedded defaults refuse) is an event of the workflows
    // service that the notifications service consumes: without RabbitMQ, only the in-memory event bus carries it.
    const token = (await postGraphQL(gatewayUrl, LoginDocument, { variables: { input: { email, password } } })).data?.login;
    if (token?.__typename !== 'AuthSession') throw new Error('login failed');
    const created = (
      await postGraphQL(gatewayUrl, CreateWorkflowDocument, {
        token: token.accessToken,
        variables: { input: { name: 'Refused', steps: [{ key: 'call', type: 'http', config: { url: 'http://127.0.0.1:9/' }, retry: { maxAttempts: 1 } }] } },
      })
    ).data?.createWorkflow;
    if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
    await postGraphQL(gatewayUrl, RunWorkflowDocument, { token: token.accessToken, variables: { id: created.id } });
    await expect
      .poll(async () => (await postGraphQL(gatewayUrl, MyNotificationsDocument, { token: token.accessToken })).data?.me?.notifications.map((n) => n.eventType), {
        timeout: 30_000,
      })
      .toEqual(['workflow.execution.failed']);
    expect(await launcher.stop('SIGTERM')).toBe(0);
    await expect(fetch(gatewayUrl)).rejects.toThrow();
  }, 120_000);

  describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)('with --production', () => {
    it('gives each subgraph its own database on the real PostgreSQL, with Redis and RabbitMQ, and serves through the gateway', async () => {
      const prefix = `nf_test_launch_${randomBytes(4).toString('hex')}_`;
      const admin = new pg.Client({ connectionString: testEnvironment.postgresUrl });
      await admin.connect();
      cleanups.push(async () => {
        const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1)', [prefix]);
        for (const { datname } of rows) await admin.query(`drop database "${datname}" with (force)`);
        await admin.end();
      });

      const { launcher, gatewayUrl } = await launch(['--production'], {
        POSTGRES_URL: testEnvironment.postgresUrl,
        REDIS_URL: testEnvironment.redisUrl,
        AMQP_URL: testEnvironment.amqpUrl,
        AMQP_NAMESPACE: prefix.replaceAll('_', '-').replace(/-$/, ''),
        DATABASE_NAME_PREFIX: prefix,
      });
      cleanups.push(() => launcher.stop('SIGKILL'));
      await registerLoginMe(gatewayUrl);

      const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1) order by 1', [prefix]);
      expect(rows.map((row) => row.datname)).toEqual((await readTopology()).map((subgraph) => `${prefix}${subgraph.name}`).sort());
      const users = await new pg.Pool({ connectionString: testEnvironment.postgresUrl!.replace(/\/[^/]*$/, `/${prefix}auth`), max: 1 });
      expect((await users.query('select count(*)::int as count from users')).rows[0].count).toBe(1);
      await users.end();

      expect(await launcher.stop('SIGTERM')).toBe(0);
    }, 120_000);
  });
});
