import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { ask, errorCodes } from '../support/requests.ts';
import { viewerToken } from '../support/roles.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { WorkflowWatch } from '../support/workflow-watch.ts';

const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id status } } }`;
const PAUSE_WORKFLOW = `mutation ($id: ID!) { pauseWorkflow(id: $id) { __typename ... on Workflow { id status } ... on WorkflowNotFound { id } } }`;
const RESUME_WORKFLOW = `mutation ($id: ID!) { resumeWorkflow(id: $id) { __typename ... on Workflow { id status } ... on WorkflowNotFound { id } } }`;
const DELETE_WORKFLOW = `mutation ($id: ID!) { deleteWorkflow(id: $id) { __typename ... on DeletedWorkflow { id } ... on WorkflowNotFound { id } } }`;
const RUN_WORKFLOW = `mutation ($id: ID!) { runWorkflow(id: $id) { __typename ... on Execution { id } } }`;
const WORKFLOW = `query ($id: ID!) { workflow(id: $id) { id status } }`;
const EXECUTION = `query ($id: ID!) { execution(id: $id) { id status } }`;
const STEP_TYPES = `{ stepTypes }`;
const WORKFLOW_EXECUTIONS = `subscription ($workflowId: ID!) { workflowExecutions(workflowId: $workflowId) { event status execution { id } } }`;

const TRANSFORM_ONLY = { name: 'Tidy', steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }] };

/** The workflow operations no other suite sends, through the gateway (embedded storage). */
describe('workflow operations through the gateway', () => {
  let stack: Stack;
  let owner: SignedUp;
  let stranger: SignedUp;
  const clients: Client[] = [];

  beforeAll(async () => {
    stack = await startStack('embedded', 'workflows_operations');
    [owner, stranger] = await Promise.all([signUp(stack.gateway.graphqlUrl, 'wf-owner'), signUp(stack.gateway.graphqlUrl, 'wf-stranger')]);
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await stack?.close();
  });

  async function createWorkflow(): Promise<string> {
    const created = (await ask(stack, owner.token, CREATE_WORKFLOW, { input: TRANSFORM_ONLY })).data?.createWorkflow;
    if (created?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
    return created.id as string;
  }

  it('lists the step types a workflow can use', async () => {
    const response = await ask<{ stepTypes: string[] }>(stack, owner.token, STEP_TYPES);
    expect(response.errors).toBeUndefined();
    expect([...response.data!.stepTypes].sort()).toEqual(['ai', 'condition', 'delay', 'http', 'integration', 'notify', 'transform']);
  });

  it('pauses a workflow so that it refuses runs, and resumes it so that it runs again', async () => {
    const id = await createWorkflow();
    expect((await ask(stack, owner.token, PAUSE_WORKFLOW, { id })).data?.pauseWorkflow).toEqual({
      __typename: 'Workflow',
      id,
      status: 'PAUSED',
    });
    expect((await ask(stack, owner.token, RUN_WORKFLOW, { id })).data?.runWorkflow).toEqual({ __typename: 'WorkflowPaused' });

    expect((await ask(stack, owner.token, RESUME_WORKFLOW, { id })).data?.resumeWorkflow).toEqual({
      __typename: 'Workflow',
      id,
      status: 'ACTIVE',
    });
    expect((await ask(stack, owner.token, RUN_WORKFLOW, { id })).data?.runWorkflow).toMatchObject({ __typename: 'Execution' });
  });

  it('deletes a workflow: it disappears, its executions remain, and deleting it again finds nothing', async () => {
    const id = await createWorkflow();
    const run = (await ask(stack, owner.token, RUN_WORKFLOW, { id })).data?.runWorkflow;

    expect((await ask(stack, owner.token, DELETE_WORKFLOW, { id })).data?.deleteWorkflow).toEqual({ __typename: 'DeletedWorkflow', id });
    expect((await ask(stack, owner.token, WORKFLOW, { id })).data?.workflow).toBeNull();
    expect((await ask(stack, owner.token, EXECUTION, { id: run.id })).data?.execution).toMatchObject({ id: run.id });
    expect((await ask(stack, owner.token, DELETE_WORKFLOW, { id })).data?.deleteWorkflow).toEqual({ __typename: 'WorkflowNotFound', id });
  });

  it("refuses a VIEWER's pause, resume and delete, and leaves the workflow as it was", async () => {
    const id = await createWorkflow();
    const viewer = await viewerToken(stack, owner);
    for (const mutation of [PAUSE_WORKFLOW, RESUME_WORKFLOW, DELETE_WORKFLOW]) {
      expect(errorCodes(await ask(stack, viewer, mutation, { id }))).toEqual(['FORBIDDEN']);
    }
    expect((await ask(stack, viewer, WORKFLOW, { id })).data?.workflow).toEqual({ id, status: 'ACTIVE' });
  });

  it('finds no workflow of another tenant to pause, resume or delete', async () => {
    const id = await createWorkflow();
    expect((await ask(stack, stranger.token, PAUSE_WORKFLOW, { id })).data?.pauseWorkflow).toEqual({ __typename: 'WorkflowNotFound', id });
    expect((await ask(stack, stranger.token, RESUME_WORKFLOW, { id })).data?.resumeWorkflow).toEqual({
      __typename: 'WorkflowNotFound',
      id,
    });
    expect((await ask(stack, stranger.token, DELETE_WORKFLOW, { id })).data?.deleteWorkflow).toEqual({
      __typename: 'WorkflowNotFound',
      id,
    });
    expect((await ask(stack, owner.token, WORKFLOW, { id })).data?.workflow).toEqual({ id, status: 'ACTIVE' });
  });

  function subscribe(token: string, workflowId: string) {
    const client = createClient({
      url: stack.gateway.graphqlUrl.replace('http://', 'ws://'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    clients.push(client);
    return client.iterate<{ workflowExecutions: { event: string; status: string; execution: { id: string } } }>({
      query: WORKFLOW_EXECUTIONS,
      variables: { workflowId },
    });
  }

  it("streams a workflow's executions starting and finishing", async () => {
    const id = await createWorkflow();
    const watch = await WorkflowWatch.start(stack.workflows.pubsub, id);
    const updates = subscribe(owner.token, id);
    // The gateway says nothing when the subscription reaches the subgraph: run until the stream carries a run.
    const runs: string[] = [];
    const firstUpdate = updates.next();
    let first: Awaited<typeof firstUpdate> | undefined;
    while (!first) {
      if (runs.length === 100) throw new Error('the subscription carried none of 100 runs');
      const run = (await ask(stack, owner.token, RUN_WORKFLOW, { id })).data?.runWorkflow;
      runs.push(run.id as string);
      first = await Promise.race([firstUpdate, watch.finished(run.id as string).then(() => undefined)]);
    }
    const seen = [first.value!.data!.workflowExecutions];
    while (seen.at(-1)!.status !== 'COMPLETED') seen.push((await updates.next()).value!.data!.workflowExecutions);
    await updates.return?.();
    await watch.close();

    expect(runs).toContain(seen.at(-1)!.execution.id);
    expect(seen.at(-1)).toMatchObject({ event: 'workflow.execution.completed', status: 'COMPLETED' });
  });

  it("ends the stream of a workflow's executions when the workflow is deleted", async () => {
    const id = await createWorkflow();
    const watch = await WorkflowWatch.start(stack.workflows.pubsub, id);
    const updates = subscribe(owner.token, id);
    // Subscribed once the stream carries a run: the gateway says nothing when the subscription reaches the subgraph.
    const firstUpdate = updates.next();
    let first: Awaited<typeof firstUpdate> | undefined;
    for (let runs = 0; !first; runs++) {
      if (runs === 100) throw new Error('the subscription carried none of 100 runs');
      const run = (await ask(stack, owner.token, RUN_WORKFLOW, { id })).data?.runWorkflow;
      first = await Promise.race([firstUpdate, watch.finished(run.id as string).then(() => undefined)]);
    }
    await watch.close();

    expect((await ask(stack, owner.token, DELETE_WORKFLOW, { id })).data?.deleteWorkflow).toEqual({ __typename: 'DeletedWorkflow', id });
    // What the runs still had to say may come first; then the stream completes.
    let next = await updates.next();
    for (let left = 100; !next.done && left > 0; left--) next = await updates.next();
    expect(next.done).toBe(true);
  });

  it("refuses to stream another tenant's workflow", async () => {
    const id = await createWorkflow();
    const updates = subscribe(stranger.token, id);
    const refusal = await updates.next();
    expect(refusal.value).toMatchObject({ errors: [{ extensions: { code: 'NOT_FOUND' } }] });
    expect(refusal.value).not.toHaveProperty('data.workflowExecutions');
  });
});
