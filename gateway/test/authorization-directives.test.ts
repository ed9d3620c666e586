import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signAccessToken } from '@nexusflow/kit/core';
import { createDeferred, createTempDirectory, postGraphQL, storageModes, type GraphQLResponse } from '@nexusflow/kit/testing';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { CreateWorkflowDocument } from '@nexusflow/web-client';
import { loadGatewayConfig } from '../src/config.ts';
import { startGateway } from '../src/gateway.ts';
import type { SupergraphUpdate } from '../src/supergraph-source.ts';
import { signUp, type SignedUp } from '../../test/support/accounts.ts';
import { tenantOf } from '../../test/support/roles.ts';
import { startStack, type Stack } from '../../test/support/stack.ts';
import { ProtocolSession } from './support/ws-session.ts';

/** The web client's own mutation, as text. */
const CREATE_WORKFLOW = print(CreateWorkflowDocument);
const WORKFLOW_INPUT = { name: 'Guarded', steps: [{ key: 'done', type: 'transform', config: { template: {} } }] };
const CREATE_API_KEY = `mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename ... on CreatedApiKey { secret } } }`;
const WORKFLOW_NAMES = `{ workflows(first: 100) { edges { node { name } } } }`;

/** Each error as a client reads it: its code, where, and why. */
const refusals = (response: {
  errors?: readonly { message: string; path?: readonly (string | number)[]; extensions?: Record<string, unknown> }[];
}) => (response.errors ?? []).map((error) => [error.extensions?.code, error.path, error.message]);

/**
 * `@authenticated`, `@requiresScopes` and `@policy` as the NexusFlow subgraphs declare them, composed into the real
 * supergraph and enforced by the gateway before it plans: the whole stack behind the graph's gateway.
 */
describe('authorization directives through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let owner: SignedUp;
    const tokens = {} as Record<Role, string>;
    const ask = (token: string | undefined, document: string, variables?: Record<string, unknown>) =>
      postGraphQL<Record<string, any>>(stack.gateway.graphqlUrl, document, { ...(token ? { token } : {}), variables });
    /** The mutations the workflows subgraph has received, whatever became of them. */
    const mutationsReachingWorkflows = async () =>
      (await stack.workflows.metrics.graphqlOperations.get()).values
        .filter((value) => value.labels.operation_type === 'mutation')
        .reduce((sum, value) => sum + value.value, 0);

    beforeAll(async () => {
      stack = await startStack(mode, `authz_directives_${mode}`);
      owner = await signUp(stack.gateway.graphqlUrl, 'authz');
      // The same person under each role, signed as the auth subgraph signs access tokens: the API has no way to change roles.
      for (const role of Object.values(Role)) {
        const subject = { userId: owner.userId, tenantId: tenantOf(owner), roles: [role] };
        tokens[role] = (await signAccessToken(subject, stack.authConfig.jwtSecret, 900)).token;
      }
    });

    afterAll(async () => {
      await stack?.close();
    });

    it('serves an anonymous caller the public fields, with null and UNAUTHENTICATED at each field that needs a signed-in caller', async () => {
      const response = await ask(undefined, '{ stepTypes workflows { edges { node { id } } } notifications { id } }');

      expect(response.status).toBe(200);
      expect(response.data).toEqual({ stepTypes: expect.arrayContaining(['transform']), workflows: null, notifications: null });
      expect(refusals(response)).toEqual([
        ['UNAUTHENTICATED', ['workflows'], 'Authentication required to use Query.workflows'],
        ['UNAUTHENTICATED', ['notifications'], 'Authentication required to use Query.notifications'],
      ]);
    });

    it('answers an operation with nothing left without calling any subgraph', async () => {
      const before = await mutationsReachingWorkflows();

      const response = await ask(undefined, CREATE_WORKFLOW, { input: WORKFLOW_INPUT });

      expect(response.data).toBeNull();
      expect(refusals(response)).toEqual([
        ['UNAUTHENTICATED', ['createWorkflow'], 'Authentication required to use Mutation.createWorkflow'],
      ]);
      expect(await mutationsReachingWorkflows()).toBe(before);
    });

    it('refuses a VIEWER’s write with FORBIDDEN at the gateway: the workflows subgraph never sees it, and nothing is created', async () => {
      const before = await mutationsReachingWorkflows();

      const response = await ask(tokens.VIEWER, CREATE_WORKFLOW, { input: { ...WORKFLOW_INPUT, name: 'Written by a viewer' } });

      expect(response.data).toBeNull();
      expect(refusals(response)).toEqual([
        ['FORBIDDEN', ['createWorkflow'], 'Not allowed to use Mutation.createWorkflow: it requires scope write'],
      ]);
      expect(await mutationsReachingWorkflows()).toBe(before);
      const edges = (await ask(tokens.OWNER, WORKFLOW_NAMES)).data?.workflows.edges as { node: { name: string } }[];
      const names = edges.map((edge) => edge.node.name);
      expect(names).not.toContain('Written by a viewer');
    });

    it('lets every role holding the write scope write: MEMBER, and ADMIN and OWNER above it', async () => {
      for (const role of [Role.Member, Role.Admin, Role.Owner]) {
        const response = await ask(tokens[role], CREATE_WORKFLOW, { input: { ...WORKFLOW_INPUT, name: `Written by ${role}` } });

        expect(response.errors).toBeUndefined();
        expect(response.data?.createWorkflow.__typename).toBe('Workflow');
      }
    });

    it('reads the client’s aliases and named fragments, and nulls a refused non-null field’s parent as execution would', async () => {
      const refused = await ask(
        undefined,
        `query { kinds: stepTypes ...Mine } fragment Mine on Query { mine: workflows { edges { node { id } } } latest: workflow(id: "${owner.userId}") { id } }`,
      );
      expect(refused.data).toEqual({ kinds: expect.arrayContaining(['transform']), mine: null, latest: null });
      expect(refused.errors?.map((error) => error.path)).toEqual([['mine'], ['latest']]);

      // The viewer may mark its notifications read, not create a workflow: the non-null createWorkflow nulls the data.
      const mixed = await ask(
        tokens.VIEWER,
        `mutation ($input: WorkflowInput!) { read: markAllNotificationsRead { count } created: createWorkflow(input: $input) { ... on Workflow { id } ... on WorkflowError { message } } }`,
        { input: WORKFLOW_INPUT },
      );
      expect(mixed.data).toBeNull();
      expect(refusals(mixed)).toEqual([['FORBIDDEN', ['created'], 'Not allowed to use Mutation.createWorkflow: it requires scope write']]);
      // Nor a note that a non-null field was null: the client is told why, once.
      expect((mixed as GraphQLResponse<unknown> & { extensions?: object }).extensions).not.toHaveProperty('valueCompletion');
    });

    it('takes @skip and @include with the request’s variables: a field left out is not refused', async () => {
      const document = 'query ($mine: Boolean!) { stepTypes workflows @include(if: $mine) { edges { node { id } } } }';

      const without = await ask(undefined, document, { mine: false });
      expect(without.errors).toBeUndefined();
      expect(without.data).toEqual({ stepTypes: expect.arrayContaining(['transform']) });

      expect(refusals(await ask(undefined, document, { mine: true }))).toEqual([
        ['UNAUTHENTICATED', ['workflows'], 'Authentication required to use Query.workflows'],
      ]);
    });

    it('refuses a subscription with nothing left over WebSocket, before it reaches the subgraph, and keeps the connection', async () => {
      const session = await ProtocolSession.open(stack.gateway.graphqlUrl);
      try {
        expect(await session.init()).toBe(true);

        const outcome = await session.run({ query: 'subscription { notificationReceived { id } }' });

        expect(outcome.results).toEqual([]);
        expect(outcome.errors?.map((error) => [error.extensions?.code, error.message])).toEqual([
          ['UNAUTHENTICATED', 'Authentication required to use Subscription.notificationReceived'],
        ]);
        const stillServing = await session.run({ query: '{ stepTypes }' });
        expect(stillServing.results).toMatchObject([{ data: { stepTypes: expect.arrayContaining(['transform']) } }]);
      } finally {
        session.close();
      }
    });

    it('refuses a subscription with nothing left over Server-Sent Events too', async () => {
      const response = await fetch(stack.gateway.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query: 'subscription { notificationReceived { id } }' }),
      });

      const body = await response.text();
      expect(body).toContain('"code":"UNAUTHENTICATED"');
      expect(body).toContain('Authentication required to use Subscription.notificationReceived');
    });

    it('lets a person use what the human policy guards, and refuses an API key of the same tenant with FORBIDDEN', async () => {
      const created = (await ask(owner.token, CREATE_API_KEY, { input: { name: 'CI', scopes: ['read', 'write'] } })).data?.createApiKey;
      if (created?.__typename !== 'CreatedApiKey') throw new Error(`createApiKey failed: ${JSON.stringify(created)}`);

      const person = await ask(owner.token, '{ contactPoints { email } stepTypes }');
      expect(person.errors).toBeUndefined();

      const key = await postGraphQL<Record<string, any>>(stack.gateway.graphqlUrl, '{ contactPoints { email } stepTypes }', {
        headers: { 'x-api-key': created.secret },
      });
      expect(key.data).toEqual({ contactPoints: null, stepTypes: expect.arrayContaining(['transform']) });
      expect(refusals(key)).toEqual([['FORBIDDEN', ['contactPoints'], 'Not allowed to use Query.contactPoints: it requires policy human']]);

      // Its write scope still writes: the policy guards people's own things, not the tenant's.
      const written = await postGraphQL<Record<string, any>>(stack.gateway.graphqlUrl, CREATE_WORKFLOW, {
        headers: { 'x-api-key': created.secret },
        variables: { input: { ...WORKFLOW_INPUT, name: 'Written by a key' } },
      });
      expect(written.data?.createWorkflow.__typename).toBe('Workflow');
    });
  });
});

describe('a supergraph naming a policy the gateway does not know', () => {
  const subgraph = (policy: string) => [
    {
      name: 'vault',
      url: 'http://127.0.0.1:9/graphql',
      sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@policy"])
        type Query { hello: String secret: String @policy(policies: [["${policy}"]]) }`,
    },
  ];

  it('stops the gateway from starting, naming the policy and where it is used', async () => {
    const scratch = await createTempDirectory('authz-unknown-policy');
    try {
      const path = join(scratch.path, 'supergraph.graphql');
      await writeFile(path, composeSupergraph(subgraph('on-call')));

      await expect(startGateway(loadGatewayConfig({ PORT: '0', LOG_LEVEL: 'silent', SUPERGRAPH_PATH: path }))).rejects.toThrow(
        /policies this gateway does not know: "on-call" \(on Query\.secret\)/,
      );
    } finally {
      await scratch.remove();
    }
  });

  it('is rejected as an update, and the supergraph serving stays', async () => {
    const scratch = await createTempDirectory('authz-unknown-policy-update');
    const path = join(scratch.path, 'supergraph.graphql');
    await writeFile(path, composeSupergraph(subgraph('human')));
    const gateway = await startGateway(
      loadGatewayConfig({ PORT: '0', LOG_LEVEL: 'silent', SUPERGRAPH_PATH: path, SUPERGRAPH_POLL_INTERVAL_MS: '25' }),
    );
    try {
      const update = createDeferred<SupergraphUpdate>();
      const unsubscribe = gateway.onSupergraphUpdate((event) => {
        unsubscribe();
        update.resolve(event);
      });

      await writeFile(path, composeSupergraph(subgraph('on-call')));

      const outcome = await update.promise;
      expect(outcome.outcome).toBe('rejected');
      expect(outcome.outcome === 'rejected' && outcome.error.message).toMatch(/"on-call"/);
      const refused = await postGraphQL(gateway.graphqlUrl, '{ secret }');
      expect(refusals(refused)).toEqual([['UNAUTHENTICATED', ['secret'], 'Authentication required to use Query.secret']]);
    } finally {
      await gateway.close();
      await scratch.remove();
    }
  });
});
