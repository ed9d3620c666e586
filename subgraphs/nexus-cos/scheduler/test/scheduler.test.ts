import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Role, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { SchedulerServices } from '../src/context.ts';
import { DeliveryHeader } from '../src/domain/delivery.ts';
import { subgraph } from '../src/subgraph.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';

const INTERNAL_SECRET = 'scheduler-behaviour-internal-secret-0123456789';
/** The day before Berlin's clocks go forward (29 March 2026, 02:00 CET becomes 03:00 CEST). */
const START = new Date('2026-03-27T12:00:00Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;

const TASK = `id name target path payload cron timezone runAt status misfirePolicy maxAttempts timeoutSeconds nextRunAt lastRunAt
  upcomingRuns(count: 3) runs { id scheduledFor status attempts maxAttempts responseCode error durationMs nextAttemptAt finishedAt }`;
const RESULT = `__typename ... on ScheduledTask { ${TASK} }
  ... on InvalidScheduledTask { message problems { field problem } }
  ... on ScheduledTaskLimitReached { message limit } ... on ScheduledTaskNotFound { message id }`;
const CREATE = `mutation ($input: CreateScheduledTaskInput!) { createScheduledTask(input: $input) { ${RESULT} } }`;
const PAUSE = `mutation ($id: ID!) { pauseScheduledTask(id: $id) { ${RESULT} } }`;
const RESUME = `mutation ($id: ID!) { resumeScheduledTask(id: $id) { ${RESULT} } }`;
const DELETE = `mutation ($id: ID!) { deleteScheduledTask(id: $id) { __typename ... on DeletedScheduledTask { id }
  ... on ScheduledTaskNotFound { id } } }`;
const FIND = `query ($id: ID!) { scheduledTask(id: $id) { ${TASK} } }`;
const LIST = '{ scheduledTasks(first: 100) { id name } }';

type User = Extract<Identity, { kind: 'user' }>;
const user = (tenantId: string = randomUUID(), roles = [Role.Member]): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

describe('the COS scheduler', () => {
  let under: SubgraphUnderTest<SchedulerServices>;
  let receiver: Receiver;
  let clock = START.getTime();
  const at = (iso: string) => (clock = new Date(iso).getTime());
  const later = (ms: number) => (clock += ms);

  beforeAll(async () => {
    receiver = await startReceiver(INTERNAL_SECRET, () => clock);
    under = await startSubgraphUnderTest('cos-scheduler-behaviour', (env) => subgraph.start(env, { clock: () => clock }), {
      INTERNAL_SECRET,
      RUN_TICKER: 'false',
      TASK_TARGET_URLS: `invoice-gen=${receiver.origin}`,
      RETRY_INITIAL_BACKOFF_MS: '1000',
      MAX_TASKS_PER_TENANT: '3',
      MIN_TASK_INTERVAL_SECONDS: '300',
    });
  });

  afterAll(async () => {
    await under?.close();
    await receiver?.close();
  });

  // A tick fires every due task: each test starts from the same moment with none left by another.
  beforeEach(async () => {
    clock = START.getTime();
    receiver.received.length = 0;
    const connection = under.subgraph.database.fork().getConnection();
    await connection.execute('delete from task_runs');
    await connection.execute('delete from scheduled_tasks');
  });

  const tick = () => under.subgraph.services.engine.tick();
  async function create(owner: User, input: Record<string, unknown>) {
    const response = await under.ask<{ createScheduledTask: Record<string, any> }>(owner, CREATE, { input });
    const result = response.data?.createScheduledTask;
    if (result?.__typename !== 'ScheduledTask') throw new Error(`createScheduledTask failed: ${JSON.stringify(response)}`);
    return result;
  }
  const find = async (owner: User, id: string) =>
    (await under.ask<{ scheduledTask: Record<string, any> | null }>(owner, FIND, { id })).data?.scheduledTask;

  it('fires a cron task at 09:00 Berlin time on both sides of the change to summer time, delivering it signed', async () => {
    const owner = user();
    const task = await create(owner, {
      name: 'Morning close',
      target: 'invoice-gen',
      path: '/tasks/close?period=day',
      payload: { period: 'day' },
      cron: '0 9 * * *',
      timezone: 'Europe/Berlin',
    });
    expect(task.upcomingRuns).toEqual(['2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z']);

    at('2026-03-28T07:59:59Z');
    expect(await tick()).toEqual({ fired: 0, attempted: 0 });
    at('2026-03-28T08:00:01Z');
    expect(await tick()).toEqual({ fired: 1, attempted: 1 });
    expect(await tick()).toEqual({ fired: 0, attempted: 0 });
    at('2026-03-29T07:00:00Z');
    expect(await tick()).toEqual({ fired: 1, attempted: 1 });

    const after = await find(owner, task.id);
    expect(after).toMatchObject({ lastRunAt: '2026-03-29T07:00:00.000Z', nextRunAt: '2026-03-30T07:00:00.000Z' });
    expect(after?.runs).toMatchObject([
      { scheduledFor: '2026-03-29T07:00:00.000Z', status: 'SUCCEEDED', attempts: 1, responseCode: 204, error: null },
      { scheduledFor: '2026-03-28T08:00:00.000Z', status: 'SUCCEEDED', attempts: 1, responseCode: 204, error: null },
    ]);
    expect(receiver.received.map(({ path, body }) => ({ path, body }))).toEqual([
      { path: '/tasks/close?period=day', body: { period: 'day' } },
      { path: '/tasks/close?period=day', body: { period: 'day' } },
    ]);
    const [first] = receiver.received;
    expect(first?.identity).toMatchObject({ ok: true, identity: { kind: 'user', userId: owner.userId, tenantId: owner.tenantId } });
    expect(first?.headers).toMatchObject({
      [DeliveryHeader.DeliveryId]: after?.runs[1].id,
      [DeliveryHeader.TaskId]: task.id,
      [DeliveryHeader.ScheduledFor]: '2026-03-28T08:00:00.000Z',
      [DeliveryHeader.Attempt]: '1',
    });
  });

  it('fires a one-off delayed task once, at its time, and completes it', async () => {
    const owner = user();
    const task = await create(owner, { name: 'Later', target: 'invoice-gen', path: '/tasks/once', runAt: '2026-03-27T12:10:00.000Z' });
    expect(task).toMatchObject({ status: 'ACTIVE', nextRunAt: '2026-03-27T12:10:00.000Z', upcomingRuns: ['2026-03-27T12:10:00.000Z'] });
    expect(await tick()).toEqual({ fired: 0, attempted: 0 });
    later(10 * MINUTE);
    expect(await tick()).toEqual({ fired: 1, attempted: 1 });
    later(MINUTE);
    expect(await tick()).toEqual({ fired: 0, attempted: 0 });
    expect(await find(owner, task.id)).toMatchObject({ status: 'COMPLETED', nextRunAt: null, runs: [{ status: 'SUCCEEDED' }] });
    expect(receiver.received).toHaveLength(1);
  });

  it('retries a refused delivery with exponential backoff and the same delivery id, then records the run failed', async () => {
    const owner = user();
    const task = await create(owner, {
      name: 'Flaky',
      target: 'invoice-gen',
      path: '/fail',
      runAt: '2026-03-27T12:01:00Z',
      maxAttempts: 3,
    });
    at('2026-03-27T12:01:00Z');
    expect(await tick()).toEqual({ fired: 1, attempted: 1 });
    expect((await find(owner, task.id))?.runs).toMatchObject([
      { status: 'PENDING', attempts: 1, responseCode: 500, error: 'the target answered 500', nextAttemptAt: '2026-03-27T12:01:01.000Z' },
    ]);
    later(999);
    expect(await tick()).toEqual({ fired: 0, attempted: 0 });
    later(1);
    expect(await tick()).toEqual({ fired: 0, attempted: 1 });
    expect((await find(owner, task.id))?.runs[0].nextAttemptAt).toBe('2026-03-27T12:01:03.000Z');
    later(2 * SECOND);
    expect(await tick()).toEqual({ fired: 0, attempted: 1 });
    later(MINUTE);
    expect(await tick()).toEqual({ fired: 0, attempted: 0 });

    const [run] = (await find(owner, task.id))?.runs ?? [];
    expect(run).toMatchObject({ status: 'FAILED', attempts: 3, maxAttempts: 3, responseCode: 500, nextAttemptAt: null });
    expect(run.durationMs).toEqual(expect.any(Number));
    expect(run.finishedAt).toBe('2026-03-27T12:01:03.000Z');
    expect(
      receiver.received.map((delivery) => [delivery.headers[DeliveryHeader.DeliveryId], delivery.headers[DeliveryHeader.Attempt]]),
    ).toEqual([
      [run.id, '1'],
      [run.id, '2'],
      [run.id, '3'],
    ]);
  });

  it('counts an attempt without an answer in time, and a redirect, as failed', async () => {
    const owner = user();
    const slow = await create(owner, {
      name: 'Slow',
      target: 'invoice-gen',
      path: '/slow',
      runAt: '2026-03-27T12:01:00Z',
      maxAttempts: 1,
      timeoutSeconds: 1,
    });
    const moved = await create(owner, {
      name: 'Moved',
      target: 'invoice-gen',
      path: '/redirect',
      runAt: '2026-03-27T12:01:00Z',
      maxAttempts: 1,
    });
    at('2026-03-27T12:01:00Z');
    expect(await tick()).toEqual({ fired: 2, attempted: 2 });
    expect((await find(owner, slow.id))?.runs).toMatchObject([{ status: 'FAILED', responseCode: null, error: 'no answer within 1 s' }]);
    expect((await find(owner, moved.id))?.runs).toMatchObject([{ status: 'FAILED', responseCode: 302 }]);
    expect(receiver.received.map(({ path }) => path).sort()).toEqual(['/redirect', '/slow']);
  });

  it('records an occurrence missed beyond the grace period as skipped under SKIP, and delivers it once under RUN_ONCE', async () => {
    const owner = user();
    const skip = await create(owner, { name: 'Skip', target: 'invoice-gen', path: '/skip', cron: '0 * * * *', misfirePolicy: 'SKIP' });
    const once = await create(owner, { name: 'Once', target: 'invoice-gen', path: '/once', cron: '0 * * * *' });
    later(3 * 86_400_000);
    expect(await tick()).toEqual({ fired: 1, attempted: 1 });
    expect((await find(owner, skip.id))?.runs).toMatchObject([
      { status: 'SKIPPED', attempts: 0, error: 'missed while no scheduler was running' },
    ]);
    const caughtUp = await find(owner, once.id);
    expect(caughtUp?.runs).toMatchObject([{ status: 'SUCCEEDED', attempts: 1 }]);
    expect(new Date(caughtUp?.nextRunAt).getTime()).toBeGreaterThan(clock);
    expect(receiver.received.map(({ path }) => path)).toEqual(['/once']);
  });

  it('does not fire a paused task, resumes it from now on, and cancels the undelivered runs of a deleted one', async () => {
    const owner = user();
    const task = await create(owner, { name: 'Hourly', target: 'invoice-gen', path: '/fail', cron: '0 * * * *', maxAttempts: 5 });
    const paused = (await under.ask<Record<string, any>>(owner, PAUSE, { id: task.id })).data?.pauseScheduledTask;
    expect(paused).toMatchObject({ status: 'PAUSED', nextRunAt: null, upcomingRuns: [] });
    later(2 * 3_600_000);
    expect(await tick()).toEqual({ fired: 0, attempted: 0 });
    const resumed = (await under.ask<Record<string, any>>(owner, RESUME, { id: task.id })).data?.resumeScheduledTask;
    expect(resumed).toMatchObject({ status: 'ACTIVE', nextRunAt: '2026-03-27T15:00:00.000Z' });
    at('2026-03-27T15:00:00Z');
    expect(await tick()).toEqual({ fired: 1, attempted: 1 });

    const deleted = await under.ask<Record<string, any>>(owner, DELETE, { id: task.id });
    expect(deleted.data?.deleteScheduledTask).toEqual({ __typename: 'DeletedScheduledTask', id: task.id });
    later(MINUTE);
    expect(await tick()).toEqual({ fired: 0, attempted: 0 });
    expect(await find(owner, task.id)).toBeNull();
    const [run] = await under.subgraph.database.fork().getConnection().execute('select status from task_runs');
    expect(run).toEqual({ status: 'CANCELLED' });
    expect((await under.ask<Record<string, any>>(owner, DELETE, { id: task.id })).data?.deleteScheduledTask.__typename).toBe(
      'ScheduledTaskNotFound',
    );
  });

  it('refuses invalid definitions with a typed payload naming each field, storing nothing', async () => {
    const owner = user();
    const problems = async (input: Record<string, unknown>) => {
      const result = (
        await under.ask<Record<string, any>>(owner, CREATE, { input: { name: 'x', target: 'invoice-gen', path: '/x', ...input } })
      ).data?.createScheduledTask;
      return result?.__typename === 'InvalidScheduledTask'
        ? (result.problems as { field: string }[]).map((p) => p.field)
        : result?.__typename;
    };
    expect(await problems({ cron: '0 25 * * *' })).toEqual(['cron']);
    expect(await problems({ cron: '0 9 * * *', timezone: 'Atlantis/Capital' })).toEqual(['timezone']);
    expect(await problems({ runAt: '2026-03-27T11:59:59Z' })).toEqual(['runAt']);
    expect(await problems({ cron: '*/1 * * * *' })).toEqual(['cron']);
    expect(await problems({})).toEqual(['cron']);
    expect(await problems({ cron: '0 9 * * *', runAt: '2026-04-01T00:00:00Z' })).toEqual(['cron']);
    expect(await problems({ cron: '0 9 * * *', target: 'evil.example.com' })).toEqual(['target']);
    expect(await problems({ cron: '0 9 * * *', target: 'scheduler' })).toEqual(['target']);
    for (const path of ['//evil.example.com/x', 'http://evil.example.com/', '/a/../b', 'relative', '/x#fragment']) {
      expect(await problems({ cron: '0 9 * * *', path })).toEqual(['path']);
    }
    expect(await problems({ cron: '0 9 * * *', maxAttempts: 11, timeoutSeconds: 0 })).toEqual(['maxAttempts', 'timeoutSeconds']);
    expect(await problems({ cron: '0 9 * * *', payload: { blob: 'x'.repeat(70_000) } })).toEqual(['payload']);
    expect((await under.ask<Record<string, any>>(owner, LIST)).data?.scheduledTasks).toEqual([]);
    expect(under.loggedErrors).toEqual([]);
  });

  it('keeps a tenant to its limit of tasks, counting those not deleted', async () => {
    const owner = user();
    const tasks = [];
    for (const name of ['One', 'Two', 'Three'])
      tasks.push(await create(owner, { name, target: 'invoice-gen', path: '/x', cron: '0 9 * * *' }));
    const refused = (
      await under.ask<Record<string, any>>(owner, CREATE, { input: { name: 'Four', target: 'invoice-gen', path: '/x', cron: '0 9 * * *' } })
    ).data?.createScheduledTask;
    expect(refused).toEqual({ __typename: 'ScheduledTaskLimitReached', message: 'A tenant may have at most 3 scheduled tasks', limit: 3 });
    await create(user(), { name: 'Another tenant', target: 'invoice-gen', path: '/x', cron: '0 9 * * *' });
    await under.ask(owner, DELETE, { id: tasks[0]!.id });
    await create(owner, { name: 'Four', target: 'invoice-gen', path: '/x', cron: '0 9 * * *' });
  });

  it("lets a VIEWER read its tenant's tasks but change none, and shows another tenant nothing", async () => {
    const owner = user();
    const task = await create(owner, { name: 'Private', target: 'invoice-gen', path: '/x', cron: '0 9 * * *' });
    const viewer = user(owner.tenantId, [Role.Viewer]);
    expect((await under.ask<Record<string, any>>(viewer, LIST)).data?.scheduledTasks).toEqual([{ id: task.id, name: 'Private' }]);
    expect((await find(viewer, task.id))?.id).toBe(task.id);
    for (const [query, variables] of [
      [CREATE, { input: { name: 'x', target: 'invoice-gen', path: '/x', cron: '0 9 * * *' } }],
      [PAUSE, { id: task.id }],
      [RESUME, { id: task.id }],
      [DELETE, { id: task.id }],
    ] as const) {
      expect((await under.ask(viewer, query, variables)).errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    }
    expect((await under.ask({ kind: 'anonymous' }, LIST)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    const stranger = user();
    expect(await find(stranger, task.id)).toBeNull();
    expect((await under.ask<Record<string, any>>(stranger, LIST)).data?.scheduledTasks).toEqual([]);
    expect((await under.ask<Record<string, any>>(stranger, PAUSE, { id: task.id })).data?.pauseScheduledTask.__typename).toBe(
      'ScheduledTaskNotFound',
    );
    expect((await find(owner, task.id))?.status).toBe('ACTIVE');
  });

  it('prunes runs that finished before the retention period', async () => {
    const owner = user();
    await create(owner, { name: 'Once', target: 'invoice-gen', path: '/x', runAt: '2026-03-27T12:01:00Z' });
    at('2026-03-27T12:01:00Z');
    await tick();
    expect(await under.subgraph.services.engine.prune()).toBe(0);
    later(31 * 86_400_000);
    expect(await under.subgraph.services.engine.prune()).toBe(1);
  });
});
