import { createClient, type Client } from 'graphql-ws';
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signIdentity, STATEMENTS_HEADER, tenantFork } from '@nexusflow/kit';
import { createDeferred, describeMalformedIds, MALFORMED_ID } from '@nexusflow/kit/testing';
import type { Workflow } from '../src/entities/workflow.entity.ts';
import { subgraph as workflows } from '../src/subgraph.ts';

/** Shaped like the cursors the API hands out, with an id PostgreSQL would refuse. */
const CURSOR_OF_MALFORMED_ID = Buffer.from(JSON.stringify([new Date().toISOString(), MALFORMED_ID])).toString('base64url');
/** A well-formed id with a date PostgreSQL cannot store, as a forged cursor could carry. */
const CURSOR_OF_UNSTORABLE_DATE = Buffer.from(
  JSON.stringify(['+275760-09-13T00:00:00.000Z', '6f0c1a52-8d6e-4b0a-9c55-3f1f1d7a9b10']),
).toString('base64url');
const CURSOR_REFUSAL = 'The cursor is not one this API returned';
const DEFINITION = { name: 'Malformed', steps: [{ key: 'wait', type: 'delay', config: { durationMs: 10 } }] };

const ENTITIES = `query ($representations: [_Any!]!, $filter: WorkflowFilterInput, $after: String) {
  _entities(representations: $representations) {
    ... on Tenant { workflows(filter: $filter) { edges { cursor } } }
    ... on User { workflows(after: $after) { edges { cursor } } }
    ... on Workflow { executions(after: $after) { edges { cursor } } }
  }
}`;

const idOf = (mutation: string) => ({
  operation: `${mutation}(id)`,
  query: `mutation ($id: ID!) { ${mutation}(id: $id) { __typename } }`,
  variables: { id: MALFORMED_ID },
  field: 'id',
});

let workflow: Workflow;

describeMalformedIds('workflows', {
  start: (env) => workflows.start(env),
  env: { RUN_WORKER: 'false' },
  async setUp(under, caller) {
    workflow = (await under.subgraph.services.workflows.create(
      tenantFork(under.subgraph.database, caller),
      caller,
      DEFINITION,
    )) as Workflow;
  },
  // Resolving a reference reads it before its fields check their arguments.
  refusedBeforeAnyStatement: false,
  cases: [
    { operation: 'workflow(id)', query: 'query ($id: ID!) { workflow(id: $id) { id } }', variables: { id: MALFORMED_ID }, field: 'id' },
    { operation: 'execution(id)', query: 'query ($id: ID!) { execution(id: $id) { id } }', variables: { id: MALFORMED_ID }, field: 'id' },
    {
      operation: 'workflows(filter: { ownerId })',
      query: 'query ($filter: WorkflowFilterInput) { workflows(filter: $filter) { edges { cursor } } }',
      variables: { filter: { ownerId: MALFORMED_ID } },
      field: 'ownerId',
    },
    {
      operation: 'workflows(after) with a cursor of a malformed id',
      query: 'query ($after: String) { workflows(after: $after) { edges { cursor } } }',
      variables: { after: CURSOR_OF_MALFORMED_ID },
      field: 'after',
      message: CURSOR_REFUSAL,
    },
    {
      operation: 'workflows(after) with a cursor of a date out of range',
      query: 'query ($after: String) { workflows(after: $after) { edges { cursor } } }',
      variables: { after: CURSOR_OF_UNSTORABLE_DATE },
      field: 'after',
      message: CURSOR_REFUSAL,
    },
    {
      operation: "a tenant's workflows(filter: { ownerId })",
      query: ENTITIES,
      variables: (caller) => ({ representations: [{ __typename: 'Tenant', id: caller.tenantId }], filter: { ownerId: MALFORMED_ID } }),
      field: 'ownerId',
    },
    {
      operation: "a user's workflows(after) with a cursor of a malformed id",
      query: ENTITIES,
      variables: (caller) => ({ representations: [{ __typename: 'User', id: caller.userId }], after: CURSOR_OF_MALFORMED_ID }),
      field: 'after',
      message: CURSOR_REFUSAL,
    },
    {
      operation: "a workflow's executions(after) with a cursor of a malformed id",
      query: ENTITIES,
      variables: () => ({ representations: [{ __typename: 'Workflow', id: workflow.id }], after: CURSOR_OF_MALFORMED_ID }),
      field: 'after',
      message: CURSOR_REFUSAL,
    },
    {
      operation: 'updateWorkflow(id)',
      query: 'mutation ($id: ID!, $input: WorkflowInput!) { updateWorkflow(id: $id, input: $input) { __typename } }',
      variables: { id: MALFORMED_ID, input: DEFINITION },
      field: 'id',
    },
    ...[
      'deleteWorkflow',
      'pauseWorkflow',
      'resumeWorkflow',
      'runWorkflow',
      'pauseExecution',
      'resumeExecution',
      'cancelExecution',
      'retryExecution',
    ].map(idOf),
  ],
  entities: {
    Workflow: 'executions { edges { cursor } }',
    Execution: 'id',
    User: 'workflows { edges { cursor } }',
    Tenant: 'workflows { edges { cursor } }',
  },
  furtherTests(suite) {
    const cleanups: (() => Promise<void>)[] = [];

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    it('refuses the malformed id before any statement reaches PostgreSQL', async () => {
      const response = await suite.ask('mutation ($id: ID!) { runWorkflow(id: $id) { __typename } }', { id: MALFORMED_ID });
      expect(response.errors).toEqual([expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', field: 'id' } })]);
      expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
    });

    it.each([
      {
        operation: 'executionUpdated(id)',
        query: 'subscription ($id: ID!) { executionUpdated(id: $id) { revision } }',
        variables: { id: MALFORMED_ID },
        field: 'id',
      },
      {
        operation: 'workflowExecutions(workflowId)',
        query: 'subscription ($workflowId: ID!) { workflowExecutions(workflowId: $workflowId) { revision } }',
        variables: { workflowId: MALFORMED_ID },
        field: 'workflowId',
      },
    ])('refuses the subscription $operation with BAD_USER_INPUT naming "$field"', async ({ query, variables, field }) => {
      const client: Client = createClient({
        url: suite.under.subgraph.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: signIdentity(suite.caller, suite.under.subgraph.config.internalSecret),
        retryAttempts: 0,
      });
      cleanups.push(async () => {
        await client.dispose();
      });
      const refusal = createDeferred<unknown>();
      client.subscribe(
        { query, variables },
        { next: ({ errors }) => errors && refusal.resolve(errors), error: refusal.resolve, complete: () => undefined },
      );
      expect(await refusal.promise).toEqual([
        expect.objectContaining({ message: `"${field}" must be a UUID`, extensions: { code: 'BAD_USER_INPUT', field } }),
      ]);
      expect(suite.under.loggedErrors).toEqual([]);
    });
  },
});
