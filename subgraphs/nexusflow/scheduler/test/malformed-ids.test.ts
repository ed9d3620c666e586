import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, STATEMENTS_HEADER, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { SchedulerServices } from '../src/context.ts';
import { subgraph as scheduler } from '../src/subgraph.ts';

const MALFORMED = 'x';
const definition = (workflowId: string) => ({ workflowId, name: 'Nightly', cron: '0 2 * * *' });
const SCHEDULE_RESULT = '{ __typename ... on ScheduleError { message } }';

const idOf = (mutation: string) => ({
  operation: `${mutation}(id)`,
  query: `mutation ($id: ID!) { ${mutation}(id: $id) { __typename } }`,
  variables: { id: MALFORMED },
  field: 'id',
});

/** Ids are UUIDs: anything else is the client's mistake, answered before it can reach PostgreSQL or the workflows subgraph. */
describe('the scheduler subgraph, given ids that are not UUIDs', () => {
  let under: SubgraphUnderTest<SchedulerServices>;
  const caller: Identity = { kind: 'user', userId: crypto.randomUUID(), tenantId: crypto.randomUUID(), roles: [Role.Owner] };

  beforeAll(async () => {
    // No workflows subgraph listens there: a workflow id that reached it would fail the request another way.
    under = await startSubgraphUnderTest('scheduler-malformed-ids', (environment) => scheduler.start(environment), {
      RUN_TICKER: 'false',
      WORKFLOWS_URL: 'http://127.0.0.1:9/graphql',
    });
  });

  afterAll(async () => {
    await under?.close();
  });

  const ask = <T>(query: string, variables: Record<string, unknown>) => under.ask<T>(caller, query, variables);

  it.each([
    {
      operation: 'schedules(workflowId)',
      query: 'query ($workflowId: ID) { schedules(workflowId: $workflowId) { id } }',
      variables: { workflowId: MALFORMED },
      field: 'workflowId',
    },
    { operation: 'schedule(id)', query: 'query ($id: ID!) { schedule(id: $id) { id } }', variables: { id: MALFORMED }, field: 'id' },
    {
      operation: 'createSchedule(input: { workflowId })',
      query: `mutation ($input: ScheduleInput!) { createSchedule(input: $input) ${SCHEDULE_RESULT} }`,
      variables: { input: definition(MALFORMED) },
      field: 'workflowId',
    },
    {
      operation: 'updateSchedule(id)',
      query: `mutation ($id: ID!, $input: ScheduleInput!) { updateSchedule(id: $id, input: $input) ${SCHEDULE_RESULT} }`,
      variables: { id: MALFORMED, input: definition(crypto.randomUUID()) },
      field: 'id',
    },
    {
      operation: 'updateSchedule(input: { workflowId })',
      query: `mutation ($id: ID!, $input: ScheduleInput!) { updateSchedule(id: $id, input: $input) ${SCHEDULE_RESULT} }`,
      variables: { id: crypto.randomUUID(), input: definition(MALFORMED) },
      field: 'workflowId',
    },
    ...['pauseSchedule', 'resumeSchedule', 'deleteSchedule'].map(idOf),
  ])(
    'answers $operation with BAD_USER_INPUT naming "$field", without a statement reaching PostgreSQL',
    async ({ query, variables, field }) => {
      const response = await ask(query, variables);
      expect(response.errors).toEqual([
        expect.objectContaining({ message: `"${field}" must be a UUID`, extensions: { code: 'BAD_USER_INPUT', field } }),
      ]);
      expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
      expect(under.loggedErrors).toEqual([]);
    },
  );

  it('resolves Schedule and Workflow references with malformed ids to null, without an error', async () => {
    const response = await ask<{ _entities: unknown[] }>(
      `query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on Schedule { id name } ... on Workflow { schedules { id } } } }`,
      {
        representations: [
          { __typename: 'Schedule', id: MALFORMED },
          { __typename: 'Workflow', id: MALFORMED },
        ],
      },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data?._entities).toEqual([null, null]);
    expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
    expect(under.loggedErrors).toEqual([]);
  });
});
