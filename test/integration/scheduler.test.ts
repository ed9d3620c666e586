import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { postGraphQL, type PostOptions, storageModes } from '@nexusflow/kit/testing';
import {
  CreateScheduleDocument,
  CreateWorkflowDocument,
  PauseScheduleDocument,
  RegisterDocument,
  ScheduleDetailsDocument,
  WorkflowSchedulesDocument,
  type ScheduleInput,
} from '@nexusflow/web-client';
import { ScheduleTicker } from '../../subgraphs/nexusflow/scheduler/src/domain/ticker.ts';
import { WorkflowsClient } from '../../subgraphs/nexusflow/scheduler/src/domain/workflows-client.ts';
import { LossyProxy } from '../support/lossy-proxy.ts';
import { startStack, type Stack } from '../support/stack.ts';

/** Where every test's clock starts: the day before America's clocks go forward (8 March 2026). */
const START = new Date('2026-03-07T12:00:00Z');

/** Schedules through the gateway, with the scheduler's clock under the test's control. */
describe('the scheduler through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let token: string;
    const graphql = <T, V>(document: TypedDocumentNode<T, V>, options: PostOptions<V> = {}) =>
      postGraphQL(stack.gateway.graphqlUrl, document, { token, ...options });

    async function workflow(): Promise<string> {
      const created = await graphql(CreateWorkflowDocument, {
        variables: {
          input: {
            name: `Nightly ${randomUUID().slice(0, 6)}`,
            steps: [{ key: 'shape', type: 'transform', config: { template: { at: '{{input.at}}' } } }],
          },
        },
      });
      if (created.data?.createWorkflow.__typename !== 'Workflow') throw new Error(JSON.stringify(created));
      return created.data.createWorkflow.id;
    }

    async function schedule(input: ScheduleInput) {
      const created = await graphql(CreateScheduleDocument, { variables: { input } });
      const result = created.data?.createSchedule;
      if (result?.__typename !== 'Schedule') throw new Error(`createSchedule failed: ${JSON.stringify(created)}`);
      return result;
    }

    const details = async (id: string) => (await graphql(ScheduleDetailsDocument, { variables: { id } })).data?.schedule;

    beforeAll(async () => {
      stack = await startStack(mode, `scheduler_${mode}`);
      const session = (
        await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
          variables: {
            input: {
              email: `planner-${randomUUID()}@example.com`,
              password: 'correct horse battery',
              name: 'Planner',
              tenantName: 'Schedules Inc',
            },
          },
        })
      ).data?.register;
      if (session?.__typename !== 'AuthSession') throw new Error('registration failed');
      token = session.accessToken;
    });

    // Each test starts from the same moment with no schedule left by another: a tick fires every due schedule, so one
    // test's schedules (or its move of the clock) would otherwise change what another's tick finds.
    beforeEach(async () => {
      stack.clock.now = new Date(START);
      const connection = stack.scheduler.database.fork().getConnection();
      await connection.execute('delete from schedule_runs');
      await connection.execute('delete from schedules');
    });

    afterAll(async () => {
      await stack?.close();
    });

    it("shows a workflow's schedules with their next runs in local time, through federation", async () => {
      const workflowId = await workflow();
      await schedule({ workflowId, name: 'Every morning', cron: '0 9 * * *', timezone: 'Europe/Berlin' });
      const response = await graphql(WorkflowSchedulesDocument, { variables: { id: workflowId } });
      expect(response.data?.workflow?.schedules).toMatchObject([
        {
          name: 'Every morning',
          cron: '0 9 * * *',
          timezone: 'Europe/Berlin',
          nextRunAt: '2026-03-08T08:00:00.000Z',
          upcomingRuns: ['2026-03-08T08:00:00.000Z', '2026-03-09T08:00:00.000Z', '2026-03-10T08:00:00.000Z'],
        },
      ]);
    });

    it('fires a due tick once, starting a run of the workflow that the schedule shows', async () => {
      const workflowId = await workflow();
      const daily = await schedule({ workflowId, name: 'Daily', cron: '30 2 * * *', timezone: 'America/New_York' });
      expect(daily.nextRunAt).toBe('2026-03-08T07:30:00.000Z');

      stack.clock.now = new Date('2026-03-08T07:30:01Z');
      expect(await stack.scheduler.services.ticker.tick()).toBe(1);
      expect(await stack.scheduler.services.ticker.tick()).toBe(0);

      const after = await details(daily.id);
      expect(after?.lastRunAt).toBe('2026-03-08T07:30:00.000Z');
      expect(after?.nextRunAt).toBe('2026-03-09T06:30:00.000Z');
      expect(after?.runs).toMatchObject([{ scheduledFor: '2026-03-08T07:30:00.000Z', outcome: 'TRIGGERED', error: null }]);
      expect(after?.runs[0]?.execution?.id).toEqual(expect.any(String));
      expect(['RUNNING', 'COMPLETED']).toContain(after?.runs[0]?.execution?.status);
    });

    it('fires each tick exactly once when several scheduler instances tick at the same moment', async () => {
      const workflowId = await workflow();
      const hourly = await schedule({ workflowId, name: 'Hourly', intervalSeconds: 3600 });
      stack.clock.now = new Date(new Date(hourly.nextRunAt!).getTime() + 1000);
      // Another instance on the same database: a second process in postgres mode, a second ticker on
      // the one embedded database otherwise (an embedded database belongs to one process).
      const other =
        mode === 'postgres'
          ? (await stack.startScheduler()).services.ticker
          : new ScheduleTicker({
              database: stack.scheduler.database,
              workflows: new WorkflowsClient(stack.schedulerConfig.workflowsUrl, stack.schedulerConfig.subgraph.internalSecret),
              logger: stack.scheduler.logger,
              now: () => stack.clock.now,
            });
      await Promise.all([stack.scheduler.services.ticker.tick(), other.tick(), stack.scheduler.services.ticker.tick(), other.tick()]);
      const runs = (await details(hourly.id))?.runs ?? [];
      expect(runs.map((run) => run.outcome)).toEqual(['TRIGGERED']);
    });

    it('starts a tick whose start was not confirmed exactly once, later, even past the misfire grace of a SKIP schedule', async () => {
      const workflowId = await workflow();
      const hourly = await schedule({ workflowId, name: 'Lost answer', cron: '0 * * * *', misfirePolicy: 'SKIP' });
      const dueAt = hourly.nextRunAt!;
      // An instance whose call starts the run but never hears so, as when its network or its process fails right then.
      const proxy = await new LossyProxy(stack.schedulerConfig.workflowsUrl).start();
      proxy.loseAnswers('ScheduledRun');
      const unlucky = new ScheduleTicker({
        database: stack.scheduler.database,
        workflows: new WorkflowsClient(proxy.url, stack.schedulerConfig.subgraph.internalSecret),
        logger: stack.scheduler.logger,
        now: () => stack.clock.now,
      });
      try {
        stack.clock.now = new Date(new Date(dueAt).getTime() + 1000);
        expect(await unlucky.tick()).toBe(0);
      } finally {
        await proxy.close();
      }
      expect(proxy.lost).toEqual(['ScheduledRun']);
      const waiting = await details(hourly.id);
      expect(waiting).toMatchObject({ nextRunAt: dueAt, runs: [] });

      stack.clock.now = new Date(new Date(dueAt).getTime() + 2 * 3_600_000 + 1000);
      expect(await stack.scheduler.services.ticker.tick()).toBe(1);
      const settled = await details(hourly.id);
      expect(settled?.runs.map((run) => [run.scheduledFor, run.outcome])).toEqual([[dueAt, 'TRIGGERED']]);
      expect(new Date(settled!.nextRunAt!).getTime()).toBeGreaterThan(stack.clock.now.getTime());
      const started = await stack.workflows.database
        .fork()
        .getConnection()
        .execute<{ id: string }[]>('select id from executions where workflow_id = ?', [workflowId]);
      expect(started.map((execution) => execution.id)).toEqual([settled?.runs[0]?.execution?.id]);
    });

    it('records a tick the workflows service refuses for good as FAILED, and moves on, rather than trying it at every pass', async () => {
      const workflowId = await workflow();
      const hourly = await schedule({ workflowId, name: 'Refused', intervalSeconds: 3600 });
      // An instance whose calls the workflows service cannot authenticate: a refusal that asking again does not change.
      const refused = new ScheduleTicker({
        database: stack.scheduler.database,
        workflows: new WorkflowsClient(stack.schedulerConfig.workflowsUrl, 'not-the-internal-secret-of-this-deployment'),
        logger: stack.scheduler.logger,
        now: () => stack.clock.now,
      });
      stack.clock.now = new Date(new Date(hourly.nextRunAt!).getTime() + 1000);
      expect(await refused.tick()).toBe(1);
      const after = await details(hourly.id);
      expect(after?.runs.map((run) => run.outcome)).toEqual(['FAILED']);
      expect(new Date(after!.nextRunAt!).getTime()).toBeGreaterThan(stack.clock.now.getTime());
    });

    it('applies the misfire policy to ticks missed while no scheduler ran', async () => {
      const workflowId = await workflow();
      const skip = await schedule({ workflowId, name: 'Skip missed', cron: '0 * * * *', misfirePolicy: 'SKIP' });
      const once = await schedule({ workflowId, name: 'Catch up once', cron: '0 * * * *', misfirePolicy: 'RUN_ONCE' });
      stack.clock.now = new Date(new Date(once.nextRunAt!).getTime() + 3 * 86_400_000 + 1000);
      await stack.scheduler.services.ticker.tick();

      const skipped = await details(skip.id);
      expect(skipped?.runs.map((run) => [run.outcome, run.execution])).toEqual([['SKIPPED', null]]);
      const caughtUp = await details(once.id);
      expect(caughtUp?.runs.map((run) => run.outcome)).toEqual(['TRIGGERED']);
      expect(new Date(caughtUp!.nextRunAt!).getTime()).toBeGreaterThan(stack.clock.now.getTime());
    });

    it('does not fire a paused schedule', async () => {
      const workflowId = await workflow();
      const paused = await schedule({ workflowId, name: 'Paused', intervalSeconds: 60 });
      expect((await graphql(PauseScheduleDocument, { variables: { id: paused.id } })).data?.pauseSchedule).toMatchObject({
        status: 'PAUSED',
        nextRunAt: null,
      });
      stack.clock.now = new Date(stack.clock.now.getTime() + 3_600_000);
      await stack.scheduler.services.ticker.tick();
      expect((await details(paused.id))?.runs).toEqual([]);
    });

    it('refuses invalid schedules, naming the field', async () => {
      const workflowId = await workflow();
      const problems = async (input: ScheduleInput) => {
        const result = (await graphql(CreateScheduleDocument, { variables: { input } })).data?.createSchedule;
        return result?.__typename === 'InvalidSchedule' ? result.problems.map((p) => p.field) : result?.__typename;
      };
      expect(await problems({ workflowId, name: 'x', cron: '0 25 * * *' })).toEqual(['cron']);
      expect(await problems({ workflowId, name: 'x', cron: '0 9 * * *', timezone: 'Atlantis/Capital' })).toEqual(['timezone']);
      expect(await problems({ workflowId, name: 'x', intervalSeconds: 10 })).toEqual(['intervalSeconds']);
      expect(await problems({ workflowId, name: 'x', intervalSeconds: 3600, timezone: 'Mars/Olympus' })).toEqual(['timezone']);
      // Every minute, hour and day listed: a valid expression, longer than a schedule keeps.
      const every = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index).join(',');
      expect(await problems({ workflowId, name: 'x', cron: `${every(0, 59)} ${every(0, 23)} ${every(1, 31)} * *` })).toEqual(['cron']);
      expect(await problems({ workflowId, name: 'x' })).toEqual(['cron']);
      expect(await problems({ workflowId: randomUUID(), name: 'x', cron: '0 9 * * *' })).toEqual(['workflowId']);
    });
  });
});
