import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { ask, errorCodes, idsOf } from '../support/requests.ts';
import { viewerToken } from '../support/roles.ts';
import { startStack, type Stack } from '../support/stack.ts';

const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id } } }`;
const SCHEDULE_FIELDS = `id name cron intervalSeconds timezone status nextRunAt workflow { id }`;
const SCHEDULE_RESULT = `{ __typename ... on Schedule { ${SCHEDULE_FIELDS} } ... on ScheduleNotFound { id } ... on InvalidSchedule { problems { field } } }`;
const CREATE_SCHEDULE = `mutation ($input: ScheduleInput!) { createSchedule(input: $input) { __typename ... on Schedule { id } } }`;
const UPDATE_SCHEDULE = `mutation ($id: ID!, $input: ScheduleInput!) { updateSchedule(id: $id, input: $input) ${SCHEDULE_RESULT} }`;
const PAUSE_SCHEDULE = `mutation ($id: ID!) { pauseSchedule(id: $id) ${SCHEDULE_RESULT} }`;
const RESUME_SCHEDULE = `mutation ($id: ID!) { resumeSchedule(id: $id) ${SCHEDULE_RESULT} }`;
const DELETE_SCHEDULE = `mutation ($id: ID!) { deleteSchedule(id: $id) { __typename ... on DeletedSchedule { id } ... on ScheduleNotFound { id } } }`;
const SCHEDULES = `query ($workflowId: ID) { schedules(workflowId: $workflowId) { id name } }`;
const SCHEDULE = `query ($id: ID!) { schedule(id: $id) { ${SCHEDULE_FIELDS} } }`;

/** The scheduler operations no other suite sends, through the gateway (embedded storage). */
describe('scheduler operations through the gateway', () => {
  let stack: Stack;
  let owner: SignedUp;
  let stranger: SignedUp;

  beforeAll(async () => {
    stack = await startStack('embedded', 'scheduler_operations');
    [owner, stranger] = await Promise.all([
      signUp(stack.gateway.graphqlUrl, 'sched-owner'),
      signUp(stack.gateway.graphqlUrl, 'sched-stranger'),
    ]);
  });

  afterAll(async () => {
    await stack?.close();
  });

  async function createWorkflow(name = 'Nightly'): Promise<string> {
    const created = (
      await ask(stack, owner.token, CREATE_WORKFLOW, {
        input: { name, steps: [{ key: 'done', type: 'transform', config: { template: {} } }] },
      })
    ).data?.createWorkflow;
    if (created?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
    return created.id as string;
  }

  async function createSchedule(workflowId: string, name = 'Every night'): Promise<string> {
    const created = (await ask(stack, owner.token, CREATE_SCHEDULE, { input: { workflowId, name, cron: '0 2 * * *' } })).data
      ?.createSchedule;
    if (created?.__typename !== 'Schedule') throw new Error(`createSchedule failed: ${JSON.stringify(created)}`);
    return created.id as string;
  }

  it("lists the tenant's schedules, all of them or those of one workflow", async () => {
    const [nightly, weekly] = await Promise.all([createWorkflow('Nightly'), createWorkflow('Weekly')]);
    const first = await createSchedule(nightly, 'Night one');
    const second = await createSchedule(nightly, 'Night two');
    const third = await createSchedule(weekly, 'Sunday');

    const ofNightly = idsOf((await ask(stack, owner.token, SCHEDULES, { workflowId: nightly })).data?.schedules);
    expect(ofNightly.sort()).toEqual([first, second].sort());
    const all = idsOf((await ask(stack, owner.token, SCHEDULES)).data?.schedules);
    expect(all).toEqual(expect.arrayContaining([first, second, third]));
    expect((await ask(stack, stranger.token, SCHEDULES)).data?.schedules).toEqual([]);
  });

  it('replaces a schedule with a new definition and computes its next tick anew', async () => {
    const [workflowId, otherWorkflowId] = await Promise.all([createWorkflow(), createWorkflow('Hourly')]);
    const id = await createSchedule(workflowId);

    const updated = (
      await ask(stack, owner.token, UPDATE_SCHEDULE, {
        id,
        input: { workflowId: otherWorkflowId, name: 'Hourly now', intervalSeconds: 3600 },
      })
    ).data?.updateSchedule;
    expect(updated).toMatchObject({
      __typename: 'Schedule',
      id,
      name: 'Hourly now',
      cron: null,
      intervalSeconds: 3600,
      status: 'ACTIVE',
      workflow: { id: otherWorkflowId },
    });
    const nextRunAt = Date.parse(updated.nextRunAt as string);
    expect(nextRunAt).toBeGreaterThan(stack.clock.now.getTime());
    expect(nextRunAt).toBeLessThanOrEqual(stack.clock.now.getTime() + 3600_000);
    expect((await ask(stack, owner.token, SCHEDULE, { id })).data?.schedule).toMatchObject({ name: 'Hourly now', intervalSeconds: 3600 });
  });

  it('refuses an invalid replacement and keeps the schedule as it was', async () => {
    const id = await createSchedule(await createWorkflow());
    const refused = (
      await ask(stack, owner.token, UPDATE_SCHEDULE, {
        id,
        input: { workflowId: await createWorkflow(), name: 'Broken', cron: 'not a cron' },
      })
    ).data?.updateSchedule;
    expect(refused).toMatchObject({ __typename: 'InvalidSchedule', problems: [{ field: 'cron' }] });
    expect((await ask(stack, owner.token, SCHEDULE, { id })).data?.schedule).toMatchObject({ name: 'Every night', cron: '0 2 * * *' });
  });

  it('names intervalSeconds, not cron, when an interval of 0 or less seconds is given', async () => {
    const workflowId = await createWorkflow();
    for (const intervalSeconds of [0, -60]) {
      const refused = (
        await ask(stack, owner.token, `mutation ($input: ScheduleInput!) { createSchedule(input: $input) ${SCHEDULE_RESULT} }`, {
          input: { workflowId, name: 'Never', intervalSeconds },
        })
      ).data?.createSchedule;
      expect(refused, String(intervalSeconds)).toMatchObject({ __typename: 'InvalidSchedule', problems: [{ field: 'intervalSeconds' }] });
    }
  });

  it('resumes a paused schedule with a next tick from now on', async () => {
    const id = await createSchedule(await createWorkflow());
    expect((await ask(stack, owner.token, PAUSE_SCHEDULE, { id })).data?.pauseSchedule).toMatchObject({
      status: 'PAUSED',
      nextRunAt: null,
    });

    const resumed = (await ask(stack, owner.token, RESUME_SCHEDULE, { id })).data?.resumeSchedule;
    expect(resumed).toMatchObject({ __typename: 'Schedule', id, status: 'ACTIVE' });
    expect(Date.parse(resumed.nextRunAt as string)).toBeGreaterThan(stack.clock.now.getTime());
  });

  it('deletes a schedule: it is no longer listed or found, and deleting it again finds nothing', async () => {
    const workflowId = await createWorkflow();
    const id = await createSchedule(workflowId);

    expect((await ask(stack, owner.token, DELETE_SCHEDULE, { id })).data?.deleteSchedule).toEqual({ __typename: 'DeletedSchedule', id });
    expect((await ask(stack, owner.token, SCHEDULE, { id })).data?.schedule).toBeNull();
    expect((await ask(stack, owner.token, SCHEDULES, { workflowId })).data?.schedules).toEqual([]);
    expect((await ask(stack, owner.token, DELETE_SCHEDULE, { id })).data?.deleteSchedule).toEqual({ __typename: 'ScheduleNotFound', id });
  });

  it("refuses a VIEWER's update, resume and delete, and leaves the schedule as it was", async () => {
    const workflowId = await createWorkflow();
    const id = await createSchedule(workflowId);
    const viewer = await viewerToken(stack, owner);

    expect(
      errorCodes(await ask(stack, viewer, UPDATE_SCHEDULE, { id, input: { workflowId, name: 'Viewer was here', cron: '0 3 * * *' } })),
    ).toEqual(['FORBIDDEN']);
    expect(errorCodes(await ask(stack, viewer, RESUME_SCHEDULE, { id }))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await ask(stack, viewer, DELETE_SCHEDULE, { id }))).toEqual(['FORBIDDEN']);
    expect((await ask(stack, viewer, SCHEDULES, { workflowId })).data?.schedules).toEqual([{ id, name: 'Every night' }]);
  });

  it('finds no schedule of another tenant to update, resume or delete', async () => {
    const workflowId = await createWorkflow();
    const id = await createSchedule(workflowId);
    const strangersWorkflow = (
      await ask(stack, stranger.token, CREATE_WORKFLOW, {
        input: { name: 'Mine', steps: [{ key: 'done', type: 'transform', config: { template: {} } }] },
      })
    ).data?.createWorkflow.id;

    expect(
      (
        await ask(stack, stranger.token, UPDATE_SCHEDULE, {
          id,
          input: { workflowId: strangersWorkflow, name: 'Taken', cron: '0 3 * * *' },
        })
      ).data?.updateSchedule,
    ).toEqual({
      __typename: 'ScheduleNotFound',
      id,
    });
    expect((await ask(stack, stranger.token, RESUME_SCHEDULE, { id })).data?.resumeSchedule).toEqual({
      __typename: 'ScheduleNotFound',
      id,
    });
    expect((await ask(stack, stranger.token, DELETE_SCHEDULE, { id })).data?.deleteSchedule).toEqual({
      __typename: 'ScheduleNotFound',
      id,
    });
    expect((await ask(stack, owner.token, SCHEDULE, { id })).data?.schedule).toMatchObject({ name: 'Every night', status: 'ACTIVE' });
  });
});
