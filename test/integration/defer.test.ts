import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { Defer20220824Handler } from '@apollo/client/incremental';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument } from '@nexusflow/web-client';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { startStack, type Stack } from '../support/stack.ts';

/** The caller (auth subgraph), and their workflows (workflows subgraph) with each owner's email (auth again), deferred. */
const ME_THEN_WORKFLOWS = (defer: string) => `query MeThenWorkflows {
  me { id email ... ${defer} { workflows(first: 10) { edges { node { name owner { email } } } } } }
}`;

/** @defer on the real NexusFlow graph, with Apollo Client's own incremental handling. */
describe('@defer through the gateway on the NexusFlow graph', () => {
  let stack: Stack;
  let session: SignedUp;

  beforeAll(async () => {
    stack = await startStack('embedded', 'defer');
    session = await signUp(stack.gateway.graphqlUrl, 'deferred');
    const created = await postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
      token: session.token,
      variables: { input: { name: 'Deferred', steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }] } },
    });
    if (created.data?.createWorkflow.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('gives Apollo Client the caller first, then their workflows from the other subgraph, ending as the same query without @defer', async () => {
    const plain = await postGraphQL<Record<string, unknown>>(stack.gateway.graphqlUrl, ME_THEN_WORKFLOWS(''), { token: session.token });
    expect(plain.errors).toBeUndefined();

    const client = new ApolloClient({
      link: new HttpLink({ uri: stack.gateway.graphqlUrl, headers: { authorization: `Bearer ${session.token}` } }),
      cache: new InMemoryCache(),
      incrementalHandler: new Defer20220824Handler(),
      dataMasking: false,
    });
    const emissions: { data: unknown; dataState: string }[] = [];
    const completed = new Promise<void>((resolve, reject) => {
      client.watchQuery({ query: gql(ME_THEN_WORKFLOWS('@defer(label: "workflows")')), fetchPolicy: 'network-only' }).subscribe({
        next: (result) => {
          if (result.error) reject(new Error(result.error.message));
          if (result.dataState === 'empty') return;
          emissions.push({
            data: JSON.parse(JSON.stringify(result.data, (key, value: unknown) => (key === '__typename' ? undefined : value))),
            dataState: result.dataState,
          });
          if (result.dataState === 'complete') resolve();
        },
        error: reject,
      });
    });
    await completed;

    expect(emissions[0]).toEqual({ data: { me: { id: session.userId, email: session.email } }, dataState: 'streaming' });
    expect(emissions.at(-1)).toEqual({ data: plain.data, dataState: 'complete' });
    expect(plain.data).toMatchObject({ me: { workflows: { edges: [{ node: { name: 'Deferred', owner: { email: session.email } } }] } } });
  });

  it('authorizes a deferred fragment as any other selection: an anonymous caller gets UNAUTHENTICATED and no data', async () => {
    const response = await fetch(stack.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed;deferSpec=20220824,application/json' },
      body: JSON.stringify({ query: '{ __typename ... @defer(label: "ai") { promptTemplates { name } } }' }),
    });
    // Refused before planning, as without @defer: the non-null field nulls the data, and nothing is left to defer.
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(await response.json()).toMatchObject({
      data: null,
      errors: [
        {
          message: 'Authentication required to use Query.promptTemplates',
          path: ['promptTemplates'],
          extensions: { code: 'UNAUTHENTICATED' },
        },
      ],
    });
  });

  it('refuses @defer in a subscription with QUERY_PLANNING_FAILED, saying why', async () => {
    const response = await fetch(stack.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${session.token}` },
      body: JSON.stringify({
        query: 'subscription { executionUpdated(id: "00000000-0000-0000-0000-000000000000") { status ... @defer { execution { id } } } }',
      }),
    });
    const body = await response.text();
    expect(body).toContain('"code":"QUERY_PLANNING_FAILED"');
    expect(body).toContain('@defer is not supported on subscriptions');
  });
});
