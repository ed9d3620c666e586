import { describeMalformedIds, MALFORMED_ID } from '@nexusflow/kit/testing';
import { subgraph as scheduler } from '../src/subgraph.ts';

const definition = (workflowId: string) => ({ workflowId, name: 'Nightly', cron: '0 2 * * *' });
const SCHEDULE_RESULT = '{ __typename ... on ScheduleError { message } }';

const idOf = (mutation: string) => ({
  operation: `${mutation}(id)`,
  query: `mutation ($id: ID!) { ${mutation}(id: $id) { __typename } }`,
  variables: { id: MALFORMED_ID },
  field: 'id',
});

describeMalformedIds('scheduler', {
  start: (env) => scheduler.start(env),
  // No workflows subgraph listens there: a workflow id that reached it would fail the request another way.
  env: { RUN_TICKER: 'false', WORKFLOWS_URL: 'http://127.0.0.1:9/graphql' },
  cases: [
    {
      operation: 'schedules(workflowId)',
      query: 'query ($workflowId: ID) { schedules(workflowId: $workflowId) { id } }',
      variables: { workflowId: MALFORMED_ID },
      field: 'workflowId',
    },
    { operation: 'schedule(id)', query: 'query ($id: ID!) { schedule(id: $id) { id } }', variables: { id: MALFORMED_ID }, field: 'id' },
    {
      operation: 'createSchedule(input: { workflowId })',
      query: `mutation ($input: ScheduleInput!) { createSchedule(input: $input) ${SCHEDULE_RESULT} }`,
      variables: { input: definition(MALFORMED_ID) },
      field: 'workflowId',
    },
    {
      operation: 'updateSchedule(id)',
      query: `mutation ($id: ID!, $input: ScheduleInput!) { updateSchedule(id: $id, input: $input) ${SCHEDULE_RESULT} }`,
      variables: { id: MALFORMED_ID, input: definition(crypto.randomUUID()) },
      field: 'id',
    },
    {
      operation: 'updateSchedule(input: { workflowId })',
      query: `mutation ($id: ID!, $input: ScheduleInput!) { updateSchedule(id: $id, input: $input) ${SCHEDULE_RESULT} }`,
      variables: { id: crypto.randomUUID(), input: definition(MALFORMED_ID) },
      field: 'workflowId',
    },
    ...['pauseSchedule', 'resumeSchedule', 'deleteSchedule'].map(idOf),
  ],
  entities: { Schedule: 'id name', Workflow: 'schedules { id }' },
});
