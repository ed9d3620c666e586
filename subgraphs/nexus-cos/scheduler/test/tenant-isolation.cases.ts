import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateScheduledTaskInput!) { createScheduledTask(input: $input) { id name } }';
const LIST = '{ scheduledTasks(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { scheduledTask(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's scheduledTasks: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createScheduledTask.id as string };
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
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createScheduledTask.name).toBe('Tenant B');
    },
  },
  entities: { ScheduledTask: { selection: '... on ScheduledTask { id name createdAt }', id: ({ id }) => id } },
});
