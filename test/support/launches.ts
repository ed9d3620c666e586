/** What the launcher tests share: launching `npm start`'s script on free ports, and reading what it printed. */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { expect } from 'vitest';
import { postGraphQL } from '@nexusflow/kit/testing';
import { graphNames, localPort, type GraphName } from '@nexusflow/topology';
import { gatewayPort, readTopology } from '../../scripts/topology.ts';
import { freePortOffset, launchScript, type LaunchedProcess } from './processes.ts';

/** Every secret a service of the topology requires, each refused in production until it is set. */
export const SERVICE_SECRETS = [...new Set(graphNames.flatMap((graph) => readTopology(graph).flatMap(({ secrets }) => secrets)))];
/** A random value for a service's secret, in the form its service checks (Stripe's webhook secrets are `whsec_…`). */
export const randomSecret = (name: string) => `${name === 'STRIPE_WEBHOOK_SECRET' ? 'whsec_' : ''}${randomBytes(32).toString('hex')}`;

export const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { __typename ... on AuthSession { user { id } } } }`;
export const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { __typename ... on AuthSession { accessToken } } }`;
export const ME = `{ me { id email tenant { name } } }`;

export async function registerLoginMe(graphqlUrl: string) {
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
export const machinePorts = (graphs: readonly GraphName[]) =>
  graphs.flatMap((graph) => [gatewayPort(graph), ...readTopology(graph).map(({ port }) => port)].map((port) => localPort(graph, port)));

/** The URL a launch prints for a row of its table, e.g. `nexusflow GraphQL` (the graph is named when two run). */
export const printedUrl = (line: string) =>
  line
    .trim()
    .split(/\s+/)
    .find((part) => part.startsWith('http'))!;

/** How a launch of both graphs names the processes of `graph` in its output. */
export const named = (graph: GraphName, name: string) => `${graph}/${name}`;

/** Launches NexusFlow alone unless a test names more graphs: each launch starts every service of its graphs. */
export async function launch(
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

export async function pidStartedAs(launcher: LaunchedProcess, name: string, occurrence: number): Promise<number> {
  await launcher.waitForLine(new RegExp(`^${name} started \\(pid \\d+\\)$`));
  const pids = [...launcher.output().matchAll(new RegExp(`^${name} started \\(pid (\\d+)\\)$`, 'gm'))].map((match) => Number(match[1]));
  if (pids.length < occurrence) throw new Error(`${name} started ${pids.length} times, not ${occurrence}:\n${launcher.output()}`);
  return pids[occurrence - 1]!;
}

/** The arguments a process was started with, node options first: where its heap budget shows. */
export async function argumentsOf(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).slice(1);
}

export const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
