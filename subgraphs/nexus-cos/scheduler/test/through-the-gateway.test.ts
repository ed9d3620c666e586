import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callSubgraph, Role, secretOrDevelopmentDefault, type Environment, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { accessTokenIssuerOf, describeService, JWKS_PATH } from '@nexusflow/topology';
import type { RunningGateway } from '../../../../gateway/src/gateway.ts';
import { routesFor, startServices, TestServices } from '../../../../test/support/services.ts';
import type { SchedulerServices } from '../src/context.ts';
import { DeliveryHeader } from '../src/domain/delivery.ts';
import { TaskEngine } from '../src/domain/task-engine.ts';
import { TaskDelivery } from '../src/domain/delivery.ts';
import { subgraph } from '../src/subgraph.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';

/** What token-mgr, the gateway and the scheduler share here: the development default. */
const INTERNAL_SECRET = secretOrDevelopmentDefault(undefined);
const START = new Date('2026-10-24T12:00:00Z');

const TASK = 'id name status nextRunAt runs { id status attempts responseCode }';
const RESULT = `__typename ... on ScheduledTask { ${TASK} } ... on InvalidScheduledTask { problems { field } } ... on ScheduledTaskNotFound { id }`;
const CREATE = `mutation ($input: CreateScheduledTaskInput!) { createScheduledTask(input: $input) { ${RESULT} } }`;
const PAUSE = `mutation ($id: ID!) { pauseScheduledTask(id: $id) { ${RESULT} } }`;
const RESUME = `mutation ($id: ID!) { resumeScheduledTask(id: $id) { ${RESULT} } }`;
const DELETE = `mutation ($id: ID!) { deleteScheduledTask(id: $id) { __typename ... on DeletedScheduledTask { id } } }`;
const LIST = `{ scheduledTasks(first: 100) { ${TASK} } }`;
const FIND = `query ($id: ID!) { scheduledTask(id: $id) { ${TASK} } }`;
/** A service with every service it calls, callees first. */
const withCallees = (name: string): string[] => [
  ...new Set([...Object.values(describeService('nexus-cos', name).links).flatMap(withCallees), name]),
];
const ISSUE = 'mutation ($input: IssueAccessTokenInput!) { issueAccessToken(input: $input) { token } }';

type User = Extract<Identity, { kind: 'user' }>;

describe.each(storageModes(['postgres']))('the COS scheduler through the nexus-cos gateway (backend-api) on $storage', ({ mode }) => {
  let services: TestServices;
  let scheduler: RunningSubgraph<SchedulerServices>;
  let gateway: RunningGateway;
  let receiver: Receiver;
  let clock = START.getTime();

  let env: Environment;
  let tokenMgr: RunningSubgraph<unknown>;

  beforeAll(async () => {
    receiver = await startReceiver(INTERNAL_SECRET, () => clock);
    services = await TestServices.create(mode, `cos_scheduler_gateway_${mode}`);
    // COS access tokens are token-mgr's, which needs the services it calls (key-service) to start.
    const running: Record<string, RunningSubgraph<unknown>> = {};
    const issuer = accessTokenIssuerOf('nexus-cos')!.service.name;
    await startServices(services, 'nexus-cos', withCallees(issuer), running, { [issuer]: { ROTATE_KEYS: 'off' } });
    tokenMgr = running[issuer]!;
    env = { ...(await services.environmentFor('scheduler')), RUN_TICKER: 'false', TASK_TARGET_URLS: `ledger-mgr=${receiver.origin}` };
    scheduler = await services.start(subgraph, env, { clock: () => clock });
    running.scheduler = scheduler;
    gateway = await services.startGateway('nexus-cos', routesFor('nexus-cos', running), {
      ACCESS_TOKEN_JWKS_URL: `${tokenMgr.url}${JWKS_PATH}`,
    });
  });

  afterAll(async () => {
    await services?.close();
    await receiver?.close();
  });

  /** A COS access token as auth-service has token-mgr sign it. */
  const tokenOf = async (caller: User) =>
    (
      await callSubgraph<{ issueAccessToken: { token: string } }, unknown>({
        url: tokenMgr.graphqlUrl,
        query: ISSUE,
        variables: { input: { userId: caller.userId, tenantId: caller.tenantId, roles: caller.roles } },
        identity: { kind: 'anonymous' },
        internalSecret: INTERNAL_SECRET,
      })
    ).issueAccessToken.token;
  const send = async (caller: User, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(gateway.graphqlUrl, query, { token: await tokenOf(caller), variables });
  const user = (tenantId: string, roles = [Role.Member]): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

  it('creates, lists, finds, pauses, resumes and deletes a task for MEMBERs, and lets a VIEWER only read', async () => {
    const tenantId = randomUUID();
    const [member, viewer] = [user(tenantId), user(tenantId, [Role.Viewer])];
    const created = (
      await send(member, CREATE, {
        input: { name: 'Nightly ledger close', target: 'ledger-mgr', path: '/tasks/close', cron: '0 2 * * *', timezone: 'Europe/London' },
      })
    ).data?.createScheduledTask;
    // 25 October 2026: London falls back from BST at 02:00, so its 02:00 is 02:00 GMT.
    expect(created).toMatchObject({ __typename: 'ScheduledTask', status: 'ACTIVE', nextRunAt: '2026-10-25T02:00:00.000Z', runs: [] });
    expect(((await send(viewer, LIST)).data?.scheduledTasks as { id: string }[]).map((task) => task.id)).toEqual([created.id]);
    expect((await send(viewer, FIND, { id: created.id })).data?.scheduledTask.name).toBe('Nightly ledger close');
    expect((await send(viewer, PAUSE, { id: created.id })).errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expect((await send(member, PAUSE, { id: created.id })).data?.pauseScheduledTask).toMatchObject({ status: 'PAUSED', nextRunAt: null });
    expect((await send(member, RESUME, { id: created.id })).data?.resumeScheduledTask).toMatchObject({ status: 'ACTIVE' });
    expect((await send(member, DELETE, { id: created.id })).data?.deleteScheduledTask).toEqual({
      __typename: 'DeletedScheduledTask',
      id: created.id,
    });
    expect((await send(viewer, LIST)).data?.scheduledTasks).toEqual([]);
    const invalid = await send(member, CREATE, { input: { name: 'x', target: 'https://evil.example.com', path: '/x', cron: '0 2 * * *' } });
    expect(invalid.data?.createScheduledTask).toEqual({ __typename: 'InvalidScheduledTask', problems: [{ field: 'target' }] });
  });

  it('fires and delivers each occurrence exactly once when two scheduler instances tick at the same moment', async () => {
    const member = user(randomUUID());
    const created = (
      await send(member, CREATE, {
        input: { name: 'Twice?', target: 'ledger-mgr', path: '/tasks/once', payload: { n: 1 }, runAt: '2026-10-24T12:05:00Z' },
      })
    ).data?.createScheduledTask;
    // Another instance on the same database: a second process on PostgreSQL; on the embedded database, which belongs to
    // one process, a second engine in this one.
    const other =
      mode === 'postgres'
        ? (await services.start(subgraph, env, { clock: () => clock })).services.engine
        : new TaskEngine({
            database: scheduler.database,
            delivery: new TaskDelivery({ 'ledger-mgr': receiver.origin }, INTERNAL_SECRET, () => clock),
            logger: scheduler.logger,
            backoff: { initialMs: 1000, maxMs: 60_000 },
            misfireGraceMs: 60_000,
            runRetentionMs: 86_400_000,
            now: () => new Date(clock),
          });
    clock = new Date('2026-10-24T12:05:00Z').getTime();
    const ticks = await Promise.all([scheduler.services.engine.tick(), other.tick(), scheduler.services.engine.tick(), other.tick()]);
    expect(ticks.reduce((sum, tick) => sum + tick.fired, 0)).toBe(1);
    expect(ticks.reduce((sum, tick) => sum + tick.attempted, 0)).toBe(1);
    const runs = (await send(member, FIND, { id: created.id })).data?.scheduledTask.runs;
    expect(runs).toEqual([{ id: expect.any(String), status: 'SUCCEEDED', attempts: 1, responseCode: 204 }]);
    const deliveries = receiver.received.filter(({ path }) => path === '/tasks/once');
    expect(deliveries.map(({ headers, body }) => [headers[DeliveryHeader.DeliveryId], body])).toEqual([[runs[0].id, { n: 1 }]]);
  });
});
