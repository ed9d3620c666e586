import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, secretOrDevelopmentDefault, signIdentity, STATEMENTS_HEADER } from '@nexusflow/kit';
import { createTempDirectory, postGraphQL, testEnvironment } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, LoginDocument, MyNotificationsDocument, RunWorkflowDocument } from '@nexusflow/web-client';
import { graphNames, JWKS_PATH, localPort, type GraphName } from '@nexusflow/topology';
import { GATEWAY, gatewayPort, readTopology, SUBGRAPH_HEAP_BUDGET_MB } from '../scripts/topology.ts';
import { freePortOffset, launchScript, type LaunchedProcess } from './support/processes.ts';

/** Every secret a service of the topology requires, each refused in production until it is set. */
const SERVICE_SECRETS = [...new Set(graphNames.flatMap((graph) => readTopology(graph).flatMap(({ secrets }) => secrets)))];

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
  const me = await postGraphQL<{ me: { id: string; email: string; tenant: { name: string } } }>(graphqlUrl, ME, {
    token: login.data?.login.accessToken,
  });
  expect(me.data?.me).toEqual({ id: registered.data?.register.user.id, email, tenant: { name: 'Launch Co' } });
  return { email, password };
}

/** Every port `graphs` take on this machine before --port-offset: each graph's catalogue moved by its local offset. */
const machinePorts = (graphs: readonly GraphName[]) =>
  graphs.flatMap((graph) => [gatewayPort(graph), ...readTopology(graph).map(({ port }) => port)].map((port) => localPort(graph, port)));

/** The URL a launch prints for a row of its table, e.g. `nexusflow GraphQL` (the graph is named when two run). */
const printedUrl = (line: string) =>
  line
    .trim()
    .split(/\s+/)
    .find((part) => part.startsWith('http'))!;

/** Launches NexusFlow alone unless a test names more graphs: each launch starts every service of its graphs. */
async function launch(
  args: string[],
  env: NodeJS.ProcessEnv,
  graphs: readonly GraphName[] = ['nexusflow'],
): Promise<{ launcher: LaunchedProcess; gatewayUrl: string; portOffset: number }> {
  const portOffset = await freePortOffset(machinePorts(graphs));
  const graphArgs = graphs.flatMap((graph) => ['--graph', graph]);
  const launcher = launchScript('scripts/launch.ts', [...args, ...graphArgs, '--port-offset', String(portOffset)], {
    ...process.env,
    LOG_LEVEL: 'warn',
    ...env,
  });
  const heading = graphs.length > 1 ? 'nexusflow ' : '';
  const line = await launcher.waitForLine(new RegExp(`^\\s+${heading}GraphQL\\s+http`));
  return { launcher, gatewayUrl: printedUrl(line), portOffset };
}

async function pidStartedAs(launcher: LaunchedProcess, name: string, occurrence: number): Promise<number> {
  await launcher.waitForLine(new RegExp(`^${name} started \\(pid \\d+\\)$`));
  const pids = [...launcher.output().matchAll(new RegExp(`^${name} started \\(pid (\\d+)\\)$`, 'gm'))].map((match) => Number(match[1]));
  if (pids.length < occurrence) throw new Error(`${name} started ${pids.length} times, not ${occurrence}:\n${launcher.output()}`);
  return pids[occurrence - 1]!;
}

/** The arguments a process was started with, node options first: where its heap budget shows. */
async function argumentsOf(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).slice(1);
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// Each launch starts every service; on two cores that takes a while, hence the longer timeouts.
describe('the launcher', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  describe('on embedded defaults', () => {
    let launcher: LaunchedProcess;
    let gatewayUrl: string;
    let portOffset: number;
    let dataDir: string;
    /** Signed up while the first launch runs; must still sign in after the launcher is started again on the same data. */
    let registeredBefore: { email: string; password: string };
    beforeAll(async () => {
      const scratch = await createTempDirectory('launch-embedded');
      cleanups.push(scratch.remove);
      dataDir = scratch.path;
      ({ launcher, gatewayUrl, portOffset } = await launch([], { DATA_DIR: dataDir, RESTART_BASE_DELAY_MS: '100' }));
      cleanups.push(() => launcher.stop('SIGKILL'));
    }, 120_000);

    it('runs the subgraphs and the gateway, with events flowing between services', async () => {
      const { email, password } = await registerLoginMe(gatewayUrl);

      // A run that fails (a step calling a private address, which embedded defaults refuse) is an event of the workflows
      // service that the notifications service consumes: without RabbitMQ, only the in-memory event bus carries it. The
      // address comes from the run's input, since a workflow naming it literally would be refused when created.
      const token = (await postGraphQL(gatewayUrl, LoginDocument, { variables: { input: { email, password } } })).data?.login;
      if (token?.__typename !== 'AuthSession') throw new Error('login failed');
      const created = (
        await postGraphQL(gatewayUrl, CreateWorkflowDocument, {
          token: token.accessToken,
          variables: {
            input: { name: 'Refused', steps: [{ key: 'call', type: 'http', config: { url: '{{input.url}}' }, retry: { maxAttempts: 1 } }] },
          },
        })
      ).data?.createWorkflow;
      if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
      await postGraphQL(gatewayUrl, RunWorkflowDocument, {
        token: token.accessToken,
        variables: { id: created.id, input: { url: 'http://127.0.0.1:9/' } },
      });
      await expect
        .poll(
          async () =>
            (await postGraphQL(gatewayUrl, MyNotificationsDocument, { token: token.accessToken })).data?.me?.notifications?.map(
              (n) => n.eventType,
            ),
          {
            timeout: 30_000,
          },
        )
        .toEqual(['workflow.execution.failed']);
    }, 60_000);

    it('refuses a second launch on the same data folder or ports before starting anything, saying why, while the first keeps serving', async () => {
      registeredBefore = await registerLoginMe(gatewayUrl);
      const otherDataDir = await createTempDirectory('launch-other');
      cleanups.push(otherDataDir.remove);
      const secondLaunch = (dataFolder: string) => {
        const second = launchScript('scripts/launch.ts', ['--graph', 'nexusflow', '--port-offset', String(portOffset)], {
          ...process.env,
          LOG_LEVEL: 'warn',
          DATA_DIR: dataFolder,
        });
        cleanups.push(() => second.stop('SIGKILL'));
        return { second, exitCode: new Promise((resolve) => second.child.once('exit', resolve)) };
      };
      const sameData = secondLaunch(dataDir);
      const samePorts = secondLaunch(otherDataDir.path);

      expect(await sameData.exitCode).toBe(1);
      expect(await samePorts.exitCode).toBe(1);

      expect(sameData.second.output().trim()).toBe(
        `NexusFlow is already running from ${dataDir} (pid ${launcher.child.pid}, gateway on :${gatewayPort('nexusflow') + portOffset}); stop it, or use --port-offset and another DATA_DIR.`,
      );
      const ports = [
        ...readTopology().map(({ name, port }) => `port ${port + portOffset} (${name})`),
        `port ${gatewayPort('nexusflow') + portOffset} (gateway)`,
      ];
      expect(samePorts.second.output().trim()).toBe(
        `Already in use on 127.0.0.1: ${ports.join(', ')}. Another NexusFlow (with another DATA_DIR?) or another program listens there; stop it, or use --port-offset <n>.`,
      );
      const login = await postGraphQL(gatewayUrl, LOGIN, { variables: { input: registeredBefore } });
      expect(login.data?.login).toMatchObject({ __typename: 'AuthSession' });
      expect(launcher.child.exitCode).toBeNull();
    }, 60_000);

    it('runs the subgraphs host with the heap budget of every subgraph it hosts, and the gateway with its own', async () => {
      const subgraphs = readTopology();

      expect(await argumentsOf(await pidStartedAs(launcher, 'subgraphs', 1))).toContain(
        `--max-old-space-size=${SUBGRAPH_HEAP_BUDGET_MB * subgraphs.length}`,
      );
      expect(await argumentsOf(await pidStartedAs(launcher, GATEWAY.name, 1))).toEqual(expect.arrayContaining([...GATEWAY.nodeOptions]));
    });

    it('restarts the gateway after it is killed, saying so, while the subgraphs keep serving', async () => {
      const { email, password } = await registerLoginMe(gatewayUrl);
      const hostPid = await pidStartedAs(launcher, 'subgraphs', 1);
      const killedGatewayPid = await pidStartedAs(launcher, GATEWAY.name, 1);

      process.kill(killedGatewayPid, 'SIGKILL');

      await launcher.waitForLine(/^gateway exited \(SIGKILL\); restarting in 100 ms, attempt 1$/);
      for (const { name, port } of readTopology())
        expect((await fetch(`http://127.0.0.1:${port + portOffset}/health/ready`)).status, name).toBe(200);
      await launcher.waitForLine(/^gateway is ready again after restart attempt 1$/);
      expect(await pidStartedAs(launcher, GATEWAY.name, 2)).not.toBe(killedGatewayPid);
      const login = await postGraphQL(gatewayUrl, LOGIN, { variables: { input: { email, password } } });
      expect(login.data?.login).toMatchObject({ __typename: 'AuthSession' });
      expect(isRunning(hostPid)).toBe(true);
      expect(
        launcher
          .output()
          .split('\n')
          .filter((line) => /^subgraphs (started|exited)/.test(line)),
      ).toEqual([`subgraphs started (pid ${hostPid})`]);
    }, 60_000);

    it('restarts the subgraphs host after it is killed while the gateway and the launcher keep running, and stops everything on SIGTERM', async () => {
      const { email, password } = await registerLoginMe(gatewayUrl);
      // The gateway's second process: the previous test killed its first.
      const gatewayPid = await pidStartedAs(launcher, GATEWAY.name, 2);
      const killedHostPid = await pidStartedAs(launcher, 'subgraphs', 1);

      process.kill(killedHostPid, 'SIGKILL');

      await launcher.waitForLine(/^subgraphs exited \(SIGKILL\); restarting in 100 ms, attempt 1$/);
      await launcher.waitForLine(/^subgraphs is ready again after restart attempt 1$/);
      const restartedHostPid = await pidStartedAs(launcher, 'subgraphs', 2);
      expect(restartedHostPid).not.toBe(killedHostPid);
      // What was stored before the crash is still there, and new work is served.
      const login = await postGraphQL(gatewayUrl, LOGIN, { variables: { input: { email, password } } });
      expect(login.data?.login).toMatchObject({ __typename: 'AuthSession' });
      await registerLoginMe(gatewayUrl);
      expect(launcher.child.exitCode).toBeNull();
      expect(isRunning(gatewayPid)).toBe(true);
      const linesAbout = (pattern: RegExp) =>
        launcher
          .output()
          .split('\n')
          .filter((line) => pattern.test(line));
      expect(linesAbout(/^gateway (started|exited)/).at(-1)).toBe(`gateway started (pid ${gatewayPid})`);

      expect(await launcher.stop('SIGTERM')).toBe(0);
      await expect(fetch(gatewayUrl)).rejects.toThrow();
      expect(isRunning(gatewayPid)).toBe(false);
      expect(isRunning(restartedHostPid)).toBe(false);
      expect(linesAbout(/restarting/)).toEqual([
        'gateway exited (SIGKILL); restarting in 100 ms, attempt 1',
        'subgraphs exited (SIGKILL); restarting in 100 ms, attempt 1',
      ]);
    }, 120_000);

    it('starts again on the same data folder with everything stored before, and says when Ctrl-C has stopped everything', async () => {
      const again = await launch([], { DATA_DIR: dataDir });
      cleanups.push(() => again.launcher.stop('SIGKILL'));

      const login = await postGraphQL(again.gatewayUrl, LOGIN, { variables: { input: registeredBefore } });
      expect(login.data?.login).toMatchObject({ __typename: 'AuthSession' });

      expect(await again.launcher.stop('SIGINT')).toBe(0);
      const lines = again.launcher.output().trimEnd().split('\n');
      expect(lines).toContain('Stopping NexusFlow…');
      expect(lines.at(-1)).toBe('Stopped.');
    }, 120_000);
  });

  it('runs NexusFlow and Nexus COS side by side, Nexus COS 1000 ports up, printing where each service is and its catalogue port', async () => {
    const scratch = await createTempDirectory('launch-both-graphs');
    cleanups.push(scratch.remove);
    // Every service of both graphs on a shared machine: readiness may take longer than the default minute.
    const { launcher, gatewayUrl, portOffset } = await launch([], { DATA_DIR: scratch.path, READY_TIMEOUT_MS: '240000' }, graphNames);
    cleanups.push(() => launcher.stop('SIGKILL'));
    const output = launcher.output();
    const cosGateway = `http://127.0.0.1:${4000 + portOffset}`;
    const tokenMgr = `http://127.0.0.1:${4005 + portOffset}`;
    expect(output).toMatch(new RegExp(`^\\s+nexus-cos GraphQL\\s+${cosGateway}/graphql$`, 'm'));
    expect(output).toMatch(
      new RegExp(`^\\s+nexus-cos/backend-api\\s+${cosGateway}/graphql \\(the nexus-cos gateway\\)\\s+\\(catalogue port 3000\\)$`, 'm'),
    );
    expect(output).toMatch(new RegExp(`^\\s+nexus-cos/token-mgr\\s+${tokenMgr}/graphql\\s+\\(catalogue port 3005\\)$`, 'm'));
    expect(output).toMatch(new RegExp(`^\\s+nexusflow/notifications\\s+http://127.0.0.1:${3005 + portOffset}/graphql$`, 'm'));

    await registerLoginMe(gatewayUrl);
    const jwks = (await (await fetch(`${tokenMgr}${JWKS_PATH}`)).json()) as { keys: { alg: string }[] };
    expect(jwks.keys.map(({ alg }) => alg)).toEqual(['EdDSA']);
    // Nexus COS verifies tokens from token-mgr's JWKS: a NexusFlow access token means nothing to it.
    const nexusflowToken = (await postGraphQL(gatewayUrl, LoginDocument, { variables: { input: await registerLoginMe(gatewayUrl) } })).data
      ?.login;
    if (nexusflowToken?.__typename !== 'AuthSession') throw new Error('login failed');
    const refused = await postGraphQL(`${cosGateway}/graphql`, '{ signingKeys { id } }', { token: nexusflowToken.accessToken });
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);

    // Killed outright, the launcher can stop nothing: its processes see it gone (their IPC channel closes) and stop.
    const started = [...launcher.output().matchAll(/^\S+ started \(pid (\d+)\)$/gm)].map((match) => Number(match[1]));
    expect(started.length).toBeGreaterThanOrEqual(3);
    await launcher.stop('SIGKILL');
    await expect.poll(() => started.filter(isRunning), { timeout: 30_000, interval: 200 }).toEqual([]);
  }, 300_000);

  it('refuses a graph it does not know before starting anything, naming the graphs it has', async () => {
    const launcher = launchScript('scripts/launch.ts', ['--graph', 'nexus-nothing'], { ...process.env });

    expect(await new Promise((resolve) => launcher.child.once('exit', resolve))).toBe(1);
    expect(launcher.output()).toContain(`Unknown graph "nexus-nothing"; graphs: ${graphNames.join(', ')}`);
    expect(launcher.output()).not.toMatch(/started \(pid/);
  });

  it('refuses --production before starting anything unless it has real servers and secrets of its own, naming every missing one', async () => {
    const launcher = launchScript('scripts/launch.ts', ['--production'], {
      ...process.env,
      POSTGRES_URL: '',
      REDIS_URL: '',
      AMQP_URL: '',
      JWT_SECRET: '',
      ...Object.fromEntries(SERVICE_SECRETS.map((name) => [name, ''])),
      INTERNAL_SECRET: secretOrDevelopmentDefault(undefined),
    });

    expect(await new Promise((resolve) => launcher.child.once('exit', resolve))).toBe(1);
    const output = launcher.output();
    for (const problem of [
      'POSTGRES_URL: is required when NODE_ENV=production',
      'REDIS_URL: is required when NODE_ENV=production',
      'AMQP_URL: is required when NODE_ENV=production',
      'JWT_SECRET: is required when NODE_ENV=production',
      ...SERVICE_SECRETS.map((name) => `${name}: is required when NODE_ENV=production`),
      'INTERNAL_SECRET: must not be the development default',
    ]) {
      expect(output).toContain(`  - ${problem}`);
    }
    expect(output).not.toMatch(/started \(pid/);
  });

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

      const internalSecret = randomBytes(32).toString('hex');
      const { launcher, gatewayUrl, portOffset } = await launch(['--production'], {
        JWT_SECRET: randomBytes(32).toString('hex'),
        ...Object.fromEntries(SERVICE_SECRETS.map((name) => [name, randomBytes(32).toString('hex')])),
        INTERNAL_SECRET: internalSecret,
        POSTGRES_URL: testEnvironment.postgresUrl,
        REDIS_URL: testEnvironment.redisUrl,
        AMQP_URL: testEnvironment.amqpUrl,
        AMQP_NAMESPACE: prefix.replaceAll('_', '-').replace(/-$/, ''),
        DATABASE_NAME_PREFIX: prefix,
        RESTART_BASE_DELAY_MS: '100',
      });
      cleanups.push(() => launcher.stop('SIGKILL'));
      const account = await registerLoginMe(gatewayUrl);

      const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1) order by 1', [
        prefix,
      ]);
      expect(rows.map((row) => row.datname)).toEqual(
        readTopology()
          .map((subgraph) => `${prefix}${subgraph.database}`)
          .sort(),
      );
      const users = new pg.Pool({ connectionString: testEnvironment.postgresUrl!.replace(/\/[^/]*$/, `/${prefix}nexusflow_auth`), max: 1 });
      expect((await users.query('select count(*)::int as count from users')).rows[0].count).toBe(1);
      await users.end();

      // Every process runs with NODE_ENV=production: the gateway hides its schema, and the subgraphs trust only the
      // configured secret (never the public development one) and keep their SQL counts to themselves.
      const introspection = await postGraphQL(gatewayUrl, '{ __schema { queryType { name } } }');
      expect(introspection.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      for (const { name, port } of readTopology()) {
        const subgraphUrl = `http://127.0.0.1:${port + portOffset}/graphql`;
        const forged = await postGraphQL(subgraphUrl, '{ __typename }', {
          headers: signIdentity(ANONYMOUS, secretOrDevelopmentDefault(undefined)),
        });
        expect(forged.status, name).toBe(401);
        const signed = await postGraphQL(subgraphUrl, '{ __typename }', { headers: signIdentity(ANONYMOUS, internalSecret) });
        expect(signed.data, name).toEqual({ __typename: 'Query' });
        expect(signed.headers.has(STATEMENTS_HEADER), name).toBe(false);
      }

      // One process per subgraph, each with its heap budget; one of them killed comes back while the others serve.
      for (const { name } of readTopology()) {
        expect(await argumentsOf(await pidStartedAs(launcher, name, 1)), name).toContain(`--max-old-space-size=${SUBGRAPH_HEAP_BUDGET_MB}`);
      }
      const killedNotificationsPid = await pidStartedAs(launcher, 'notifications', 1);
      process.kill(killedNotificationsPid, 'SIGKILL');
      await launcher.waitForLine(/^notifications exited \(SIGKILL\); restarting in 100 ms, attempt 1$/);
      const login = await postGraphQL<{ login: { accessToken: string } }>(gatewayUrl, LOGIN, { variables: { input: account } });
      expect(login.data?.login.accessToken).toEqual(expect.any(String));
      await launcher.waitForLine(/^notifications is ready again after restart attempt 1$/);
      expect(await pidStartedAs(launcher, 'notifications', 2)).not.toBe(killedNotificationsPid);
      const notifications = await postGraphQL(gatewayUrl, MyNotificationsDocument, { token: login.data?.login.accessToken });
      expect(notifications.data?.me?.notifications).toEqual([]);

      expect(await launcher.stop('SIGTERM')).toBe(0);
    }, 120_000);
  });
});
