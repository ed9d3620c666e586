import { existsSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretOrDevelopmentDefault } from '@nexusflow/kit';
import { createTempDirectory, postGraphQL } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, LoginDocument, MyNotificationsDocument, RunWorkflowDocument } from '@nexusflow/web-client';
import { graphNames, JWKS_PATH, localPort } from '@nexusflow/topology';
import { GATEWAY, gatewayPort, readTopology, SUBGRAPH_HEAP_BUDGET_MB } from '../scripts/topology.ts';
import { launchScript, type LaunchedProcess } from './support/processes.ts';
import { argumentsOf, isRunning, launch, LOGIN, named, pidStartedAs, registerLoginMe, SERVICE_SECRETS } from './support/launches.ts';

// Each launch starts every service; on two cores that takes a while, hence the longer timeouts. The launch on real
// servers is in launcher-production.test.ts, which runs beside this file.
describe('the launcher', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  // One launch of both graphs serves every case below it, in order: starting every service is what takes the time.
  describe('on embedded defaults, both graphs side by side', () => {
    let launcher: LaunchedProcess;
    let gatewayUrl: string;
    let portOffset: number;
    let dataDir: string;
    const nexusflowGateway = named('nexusflow', GATEWAY.name);
    /** Signed up while the first launch runs; must still sign in after the launcher is started again on the same data. */
    let registeredBefore: { email: string; password: string };
    beforeAll(async () => {
      const scratch = await createTempDirectory('launch-embedded');
      cleanups.push(scratch.remove);
      dataDir = scratch.path;
      // Every service of both graphs on a shared machine: readiness may take longer than the default minute.
      ({ launcher, gatewayUrl, portOffset } = await launch(
        [],
        { DATA_DIR: dataDir, RESTART_BASE_DELAY_MS: '100', READY_TIMEOUT_MS: '240000' },
        graphNames,
      ));
      cleanups.push(() => launcher.stop('SIGKILL'));
    }, 300_000);

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

    it('runs Nexus COS 1000 ports up, printing where each service is and its catalogue port, with tokens of its own', async () => {
      const output = launcher.output();
      const cosGateway = `http://127.0.0.1:${4000 + portOffset}`;
      const tokenMgr = `http://127.0.0.1:${4005 + portOffset}`;
      expect(output).toMatch(new RegExp(`^\\s+nexus-cos GraphQL\\s+${cosGateway}/graphql$`, 'm'));
      expect(output).toMatch(
        new RegExp(`^\\s+nexus-cos/backend-api\\s+${cosGateway}/graphql \\(the nexus-cos gateway\\)\\s+\\(catalogue port 3000\\)$`, 'm'),
      );
      expect(output).toMatch(new RegExp(`^\\s+nexus-cos/token-mgr\\s+${tokenMgr}/graphql\\s+\\(catalogue port 3005\\)$`, 'm'));
      expect(output).toMatch(new RegExp(`^\\s+nexusflow/notifications\\s+http://127.0.0.1:${3005 + portOffset}/graphql$`, 'm'));

      const jwks = (await (await fetch(`${tokenMgr}${JWKS_PATH}`)).json()) as { keys: { alg: string }[] };
      expect(jwks.keys.map(({ alg }) => alg)).toEqual(['EdDSA']);
      // Nexus COS verifies tokens from token-mgr's JWKS: a NexusFlow access token means nothing to it.
      const nexusflowToken = (await postGraphQL(gatewayUrl, LoginDocument, { variables: { input: await registerLoginMe(gatewayUrl) } }))
        .data?.login;
      if (nexusflowToken?.__typename !== 'AuthSession') throw new Error('login failed');
      const refused = await postGraphQL(`${cosGateway}/graphql`, '{ signingKeys { id } }', { token: nexusflowToken.accessToken });
      expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    });

    it('says how long it took to be ready and how much memory its processes hold, each and in total', async () => {
      const line = await launcher.waitForLine(/^Ready in /);
      const [, seconds, total, each] = /^Ready in (\d+\.\d) s; memory \(RSS\) ([\d.]+ [MG]B) in total: (.+)$/.exec(line) ?? [];

      expect(Number(seconds)).toBeGreaterThan(0);
      expect(total).toBeDefined();
      const names = each!.split(', ').map((part) => /^(\S+) [\d.]+ [MG]B$/.exec(part)?.[1]);
      expect(names.sort()).toEqual(['launcher', named('nexus-cos', 'backend-api'), nexusflowGateway, 'subgraphs'].sort());
    });

    it("keeps every subgraph's database in the one embedded PostgreSQL its host holds, with no PGlite folder per service", async () => {
      // The lock of the one embedded cluster, held by the subgraphs' host; no PGlite folder per service any more.
      const lock = JSON.parse(await readFile(`${await realpath(join(dataDir, 'postgres'))}.lock`, 'utf8')) as { pid: number };
      expect(lock.pid).toBe(await pidStartedAs(launcher, 'subgraphs', 1));
      expect(existsSync(join(dataDir, 'nexusflow', 'auth'))).toBe(false);
    });

    it('refuses a second launch on the same data folder or ports before starting anything, saying why, while the first keeps serving', async () => {
      registeredBefore = await registerLoginMe(gatewayUrl);
      const otherDataDir = await createTempDirectory('launch-other');
      cleanups.push(otherDataDir.remove);
      const secondLaunch = (dataFolder: string) => {
        const second = launchScript('scripts/launch.ts', ['--port-offset', String(portOffset)], {
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
        ...graphNames.flatMap((graph) =>
          readTopology(graph).map(({ name, port }) => `port ${localPort(graph, port) + portOffset} (${named(graph, name)})`),
        ),
        ...graphNames.map((graph) => {
          const gateway = graph === 'nexusflow' ? GATEWAY.name : 'backend-api';
          return `port ${localPort(graph, gatewayPort(graph)) + portOffset} (${named(graph, gateway)})`;
        }),
      ];
      expect(samePorts.second.output().trim()).toBe(
        `Already in use on 127.0.0.1: ${ports.join(', ')}. Another NexusFlow (with another DATA_DIR?) or another program listens there; stop it, or use --port-offset <n>.`,
      );
      const login = await postGraphQL(gatewayUrl, LOGIN, { variables: { input: registeredBefore } });
      expect(login.data?.login).toMatchObject({ __typename: 'AuthSession' });
      expect(launcher.child.exitCode).toBeNull();
    }, 60_000);

    it('runs the subgraphs host with the heap budget of every subgraph it hosts, and the gateway with its own', async () => {
      const subgraphs = graphNames.flatMap((graph) => readTopology(graph));

      expect(await argumentsOf(await pidStartedAs(launcher, 'subgraphs', 1))).toContain(
        `--max-old-space-size=${SUBGRAPH_HEAP_BUDGET_MB * subgraphs.length}`,
      );
      expect(await argumentsOf(await pidStartedAs(launcher, nexusflowGateway, 1))).toEqual(
        expect.arrayContaining([...GATEWAY.nodeOptions]),
      );
    });

    it('restarts the gateway after it is killed, saying so, while the subgraphs keep serving', async () => {
      const { email, password } = await registerLoginMe(gatewayUrl);
      const hostPid = await pidStartedAs(launcher, 'subgraphs', 1);
      const killedGatewayPid = await pidStartedAs(launcher, nexusflowGateway, 1);

      process.kill(killedGatewayPid, 'SIGKILL');

      await launcher.waitForLine(new RegExp(`^${nexusflowGateway} exited \\(SIGKILL\\); restarting in 100 ms, attempt 1$`));
      for (const graph of graphNames)
        for (const { name, port } of readTopology(graph))
          expect((await fetch(`http://127.0.0.1:${localPort(graph, port) + portOffset}/health/ready`)).status, name).toBe(200);
      await launcher.waitForLine(new RegExp(`^${nexusflowGateway} is ready again after restart attempt 1$`));
      expect(await pidStartedAs(launcher, nexusflowGateway, 2)).not.toBe(killedGatewayPid);
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

    it('restarts the subgraphs host after it is killed while the gateways and the launcher keep running, and stops everything on SIGTERM', async () => {
      const { email, password } = await registerLoginMe(gatewayUrl);
      // The gateway's second process: the previous test killed its first.
      const gatewayPid = await pidStartedAs(launcher, nexusflowGateway, 2);
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
      expect(linesAbout(new RegExp(`^${nexusflowGateway} (started|exited)`)).at(-1)).toBe(
        `${nexusflowGateway} started (pid ${gatewayPid})`,
      );

      expect(await launcher.stop('SIGTERM')).toBe(0);
      await expect(fetch(gatewayUrl)).rejects.toThrow();
      expect(isRunning(gatewayPid)).toBe(false);
      expect(isRunning(restartedHostPid)).toBe(false);
      expect(linesAbout(/restarting/)).toEqual([
        `${nexusflowGateway} exited (SIGKILL); restarting in 100 ms, attempt 1`,
        'subgraphs exited (SIGKILL); restarting in 100 ms, attempt 1',
      ]);
      const lines = launcher.output().trimEnd().split('\n');
      expect(lines).toContain('Stopping NexusFlow…');
      expect(lines.at(-1)).toBe('Stopped.');
    }, 120_000);

    it('starts one graph again on the same data folder with everything stored before; killed outright, its processes stop too', async () => {
      const again = await launch([], { DATA_DIR: dataDir });
      cleanups.push(() => again.launcher.stop('SIGKILL'));

      const login = await postGraphQL(again.gatewayUrl, LOGIN, { variables: { input: registeredBefore } });
      expect(login.data?.login).toMatchObject({ __typename: 'AuthSession' });

      // Killed outright, the launcher can stop nothing: its processes see it gone (their IPC channel closes) and stop.
      const started = [...again.launcher.output().matchAll(/^\S+ started \(pid (\d+)\)$/gm)].map((match) => Number(match[1]));
      expect(started).toHaveLength(2);
      await again.launcher.stop('SIGKILL');
      await expect.poll(() => started.filter(isRunning), { timeout: 30_000, interval: 200 }).toEqual([]);
    }, 120_000);
  });

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
});
