import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Role, signIdentity, STATEMENTS_HEADER, tenantFork, type Identity } from '@nexusflow/kit';
import { createDeferred, startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { WorkflowServices } from '../src/context.ts';
import type { Workflow } from '../src/entities/workflow.entity.ts';
import { subgraph as workflows } from '../src/subgraph.ts';

const MALFORMED = 'x';
/** Shaped like the cursors the API hands out, with an id PostgreSQL would refuse. */
const CURSOR_OF_MALFORMED_ID = Buffer.from(JSON.stringify([new Date().toISOString(), MALFORMED])).toString('base64url');
/** A well-formed id with a date PostgreSQL cannot store, as a forged cursor could carry. */
const CURSOR_OF_UNSTORABLE_DATE = Buffer.from(
  JSON.stringify(['+275760-09-13T00:00:00.000Z', '6f0c1a52-8d6e-4b0a-9c55-3f1f1d7a9b10']),
).toString('base64url');
const CURSOR_REFUSAL = 'The cursor is not one this API returned';
const DEFINITION = { name: 'Malformed', steps: [{ key: 'wait', type: 'delay', config: { durationMs: 10 } }] };

const idOf = (mutation: string) => ({
  operation: `${mutation}(id)`,
  query: `mutation ($id: ID!) { ${mutation}(id: $id) { __typename } }`,
  variables: { id: MALFORMED },
  field: 'id',
  message: '"id" must be a UUID',
});

/** Ids are UUIDs: anything else is the client's mistake, answered before it can reach PostgreSQL as a bad uuid parameter. */
describe('the workflows subgraph, given ids that are not UUIDs', () => {
  let under: SubgraphUnderTest<WorkflowServices>;
  let workflow: Workflow;
  const cleanups: (() => Promise<void>)[] = [];
  const caller = { kind: 'user', userId: crypto.randomUUID(), tenantId: crypto.randomUUID(), roles: [Role.Owner] } satisfies Identity;

  beforeAll(async () => {
    under = await startSubgraphUnderTest('workflows-malformed-ids', (environment) => workflows.start(environment), { RUN_WORKER: 'false' });
    workflow = (await under.subgraph.services.workflows.create(
      tenantFork(under.subgraph.database, caller),
      caller,
      DEFINITION,
    )) as Workflow;
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await under?.close();
  });

  const ask = <T>(query: string, variables: Record<string, unknown>) => under.ask<T>(caller, query, variables);

  const entities = `query ($representations: [_Any!]!, $filter: WorkflowFilterInput, $after: String) {
    _entities(representations: $representations) {
      ... on Tenant { workflows(filter: $filter) { edges { cursor } } }
      ... on User { workflows(after: $after) { edges { cursor } } }
      ... on Workflow { executions(after: $after) { edges { cursor } } }
    }
  }`;

  it.each([
    {
      operation: 'workflow(id)',
      query: 'query ($id: ID!) { workflow(id: $id) { id } }',
      variables: { id: MALFORMED },
      field: 'id',
      message: '"id" must be a UUID',
    },
    {
      operation: 'execution(id)',
      query: 'query ($id: ID!) { execution(id: $id) { id } }',
      variables: { id: MALFORMED },
      field: 'id',
      message: '"id" must be a UUID',
    },
    {
      operation: 'workflows(filter: { ownerId })',
      query: 'query ($filter: WorkflowFilterInput) { workflows(filter: $filter) { edges { cursor } } }',
      variables: { filter: { ownerId: MALFORMED } },
      field: 'ownerId',
      message: '"ownerId" must be a UUID',
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
      query: entities,
      variables: { representations: [{ __typename: 'Tenant', id: caller.tenantId }], filter: { ownerId: MALFORMED } },
      field: 'ownerId',
      message: '"ownerId" must be a UUID',
    },
    {
      operation: "a user's workflows(after) with a cursor of a malformed id",
      query: entities,
      variables: { representations: [{ __typename: 'User', id: caller.userId }], after: CURSOR_OF_MALFORMED_ID },
      field: 'after',
      message: CURSOR_REFUSAL,
    },
    {
      operation: "a workflow's executions(after) with a cursor of a malformed id",
      query: entities,
      // A function: the workflow exists only once beforeAll has run.
      variables: () => ({ representations: [{ __typename: 'Workflow', id: workflow.id }], after: CURSOR_OF_MALFORMED_ID }),
      field: 'after',
      message: CURSOR_REFUSAL,
    },
    {
      operation: 'updateWorkflow(id)',
      query: 'mutation ($id: ID!, $input: WorkflowInput!) { updateWorkflow(id: $id, input: $input) { __typename } }',
      variables: { id: MALFORMED, input: DEFINITION },
      field: 'id',
      message: '"id" must be a UUID',
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
  ])('answers $operation with BAD_USER_INPUT naming "$field", with no SQL error', async ({ query, variables, field, message }) => {
    const response = await ask(query, typeof variables === 'function' ? variables() : variables);
    expect(response.errors).toEqual([expect.objectContaining({ message, extensions: { code: 'BAD_USER_INPUT', field } })]);
    expect(under.loggedErrors).toEqual([]);
  });

  it('refuses the malformed id before any statement reaches PostgreSQL', async () => {
    const response = await ask('mutation ($id: ID!) { runWorkflow(id: $id) { __typename } }', { id: MALFORMED });
    expect(response.errors).toEqual([expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', field: 'id' } })]);
    expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
  });

  it.each([
    {
      operation: 'executionUpdated(id)',
      query: 'subscription ($id: ID!) { executionUpdated(id: $id) { revision } }',
      variables: { id: MALFORMED },
      field: 'id',
    },
    {
      operation: 'workflowExecutions(workflowId)',
      query: 'subscription ($workflowId: ID!) { workflowExecutions(workflowId: $workflowId) { revision } }',
      variables: { workflowId: MALFORMED },
      field: 'workflowId',
    },
  ])('refuses the subscription $operation with BAD_USER_INPUT naming "$field"', async ({ query, variables, field }) => {
    const client: Client = createClient({
      url: under.subgraph.graphqlUrl.replace('http://', 'ws://'),
      webSocketImpl: WebSocket,
      connectionParams: signIdentity(caller, under.subgraph.config.internalSecret),
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
    expect(under.loggedErrors).toEqual([]);
  });

  it('resolves Workflow, Execution, User and Tenant references with malformed ids to null, without an error', async () => {
    const response = await ask<{ _entities: unknown[] }>(entities, {
      representations: ['Workflow', 'Execution', 'User', 'Tenant'].map((__typename) => ({ __typename, id: MALFORMED })),
    });
    expect(response.errors).toBeUndefined();
    expect(response.data?._entities).toEqual([null, null, null, null]);
    expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
    expect(under.loggedErrors).toEqual([]);
  });
});
