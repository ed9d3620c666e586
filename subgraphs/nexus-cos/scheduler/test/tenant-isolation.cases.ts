import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const TASK = 'id name status nextRunAt runs { id status }';
const CREATE = `mutation ($input: CreateScheduledTaskInput!) { createScheduledTask(input: $input) {
  __typename ... on ScheduledTask { ${TASK} } } }`;
const RESULT = `__typename ... on ScheduledTask { ${TASK} } ... on ScheduledTaskNotFound { id }`;
const PAUSE = `mutation ($id: ID!) { pauseScheduledTask(id: $id) { ${RESULT} } }`;
const RESUME = `mutation ($id: ID!) { resumeScheduledTask(id: $id) { ${RESULT} } }`;
const DELETE = `mutation ($id: ID!) { deleteScheduledTask(id: $id) { __typename ... on ScheduledTaskNotFound { id } } }`;
const LIST = `{ scheduledTasks(first: 100) { ${TASK} } }`;
const FIND = `query ($id: ID!) { scheduledTask(id: $id) { ${TASK} } }`;
const input = (name: string) => ({ name, target: 'invoice-gen', path: '/tasks/nightly', cron: '0 3 * * *', timezone: 'Europe/Berlin' });

/** Tenant B (a stranger) never sees, nor changes, tenant A's tasks: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: input('Tenant A only') })).createScheduledTask.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.scheduledTasks': async ({ b, data }) => {
      expect((await data(b, LIST)).scheduledTasks).toEqual([]);
    },
    'Query.scheduledTask': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).scheduledTask).toBeNull();
    },
    'Mutation.createScheduledTask': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: input('Tenant B') })).createScheduledTask.name).toBe('Tenant B');
    },
    'Mutation.pauseScheduledTask': async ({ b, data }, { id }) => {
      expect((await data(b, PAUSE, { id })).pauseScheduledTask).toEqual({ __typename: 'ScheduledTaskNotFound', id });
    },
    'Mutation.resumeScheduledTask': async ({ b, data }, { id }) => {
      expect((await data(b, RESUME, { id })).resumeScheduledTask).toEqual({ __typename: 'ScheduledTaskNotFound', id });
    },
    'Mutation.deleteScheduledTask': async ({ b, data }, { id }) => {
      expect((await data(b, DELETE, { id })).deleteScheduledTask).toEqual({ __typename: 'ScheduledTaskNotFound', id });
    },
  },
  entities: { ScheduledTask: { selection: '... on ScheduledTask { id name runs { id } }', id: ({ id }) => id } },
});
