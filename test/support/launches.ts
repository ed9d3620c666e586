/** What the launcher tests share: launching `npm start`'s script on free ports, and reading what it printed. */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { expect } from 'vitest';
import { postGraphQL } from '@nexusflow/kit/testing';
import type { LaunchedProcess } from './processes.ts';

export { launch, machinePorts, named, printedUrl, randomSecret, SERVICE_SECRETS } from './launch.ts';

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
