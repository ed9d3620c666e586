import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, WorkflowListDocument } from '@nexusflow/web-client';
import type { RunningGateway } from '../src/gateway.ts';
import { signUp, type SignedUp } from '../../test/support/accounts.ts';
import { startStack, type Stack } from '../../test/support/stack.ts';
import { TcpProxy } from '@nexusflow/kit/testing';

/** What a client is told for each field that a subgraph that is down was to provide. */
const unavailable = (serviceName: string, path: (string | number)[]) => ({
  message: `The ${serviceName} service is unavailable`,
  path,
  extensions: { code: 'SERVICE_UNAVAILABLE', serviceName },
});

/**
 * The NexusFlow stack, with a gateway that reaches auth, scheduler and notifications through proxies a test takes
 * down and brings back: from the gateway's side, exactly a subgraph that stopped (every connection reset, new ones
 * turned away). The stack's own gateway keeps reaching every subgraph, for setting data up.
 */
describe('the gateway answers what it can while a subgraph is down', () => {
  let stack: Stack;
  let gateway: RunningGateway;
  const proxies: Record<'auth' | 'scheduler' | 'notifications', TcpProxy> = {} as never;
  let owner: SignedUp;

  const ask = (query: string) => postGraphQL(gateway.graphqlUrl, query, { token: owner.token });
  /** Runs `test` with `subgraph` down, bringing it back whatever happens. */
  const whileDown = async <T>(subgraph: keyof typeof proxies, test: () => Promise<T>): Promise<T> => {
    proxies[subgraph].takeDown();
    try {
      return await test();
    } finally {
      proxies[subgraph].bringUp();
    }
  };

  beforeAll(async () => {
    stack = await startStack('embedded', 'partial_answers');
    const env: Record<string, string> = {};
    for (const [name, subgraph] of [
      ['auth', stack.auth],
      ['scheduler', stack.scheduler],
      ['notifications', stack.notifications],
    ] as const) {
      const url = new URL(subgraph.graphqlUrl);
      proxies[name] = await TcpProxy.start({ host: url.hostname, port: Number(url.port) });
      env[`SUBGRAPH_${name.toUpperCase()}_URL`] = proxies[name].urlFor(subgraph.graphqlUrl);
    }
    gateway = await stack.startGateway(env);
    owner = await signUp(stack.gateway.graphqlUrl, 'partial');
    for (const name of ['first', 'second']) {
      const created = await postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
        token: owner.token,
        variables: { input: { name, steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }] } },
      });
      if (created.data?.createWorkflow.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
    }
  });

  afterAll(async () => {
    await stack?.close();
    await Promise.all(Object.values(proxies).map((proxy) => proxy.close()));
  });

  it('gives the fields of the live subgraph and nulls only those of the one that is down, with an error at that field', async () => {
    const response = await whileDown('notifications', () => ask('{ me { email unreadNotificationCount } }'));

    expect(response.status).toBe(200);
    expect(response.data).toEqual({ me: { email: owner.email, unreadNotificationCount: null } });
    expect(response.errors).toEqual([unavailable('notifications', ['me', 'unreadNotificationCount'])]);
  });

  it('gives the live subgraph’s root fields when a query spans two subgraphs at the root', async () => {
    const response = await whileDown('notifications', () =>
      ask('{ me { email } notifications(first: 5) { id } notificationTemplates { id } }'),
    );

    expect(response.data).toEqual({ me: { email: owner.email }, notifications: null, notificationTemplates: null });
    expect(response.errors).toEqual([
      unavailable('notifications', ['notifications']),
      unavailable('notifications', ['notificationTemplates']),
    ]);
  });

  it('reports a failed fetch for a list once per entity, each at that entity’s field', async () => {
    const response = await whileDown('scheduler', () => ask('{ workflows(first: 5) { edges { node { name schedules { id } } } } }'));

    expect(response.data).toEqual({
      workflows: { edges: [{ node: { name: 'second', schedules: null } }, { node: { name: 'first', schedules: null } }] },
    });
    expect(response.errors).toEqual([
      unavailable('scheduler', ['workflows', 'edges', 0, 'node', 'schedules']),
      unavailable('scheduler', ['workflows', 'edges', 1, 'node', 'schedules']),
    ]);
  });

  it('nulls a reference whose fields another subgraph resolves, keeping what its own subgraph gave', async () => {
    const response = await whileDown('auth', () =>
      postGraphQL(gateway.graphqlUrl, WorkflowListDocument, { token: owner.token, variables: { first: 5 } }),
    );

    expect(response.data?.workflows?.edges.map(({ node }) => [node.name, node.owner])).toEqual([
      ['second', null],
      ['first', null],
    ]);
    expect(response.errors).toEqual([0, 1].map((index) => unavailable('auth', ['workflows', 'edges', index, 'node', 'owner', 'name'])));
  });

  it('names the fields as the client’s operation does, through aliases and fragments', async () => {
    const response = await whileDown('notifications', () =>
      ask(`{ me { mail: email unread: unreadNotificationCount ...Inbox } }
        fragment Inbox on User { latest: notifications(first: 1) { id } notificationPreferences { eventType } }`),
    );

    expect(response.data).toEqual({ me: { mail: owner.email, unread: null, latest: null, notificationPreferences: null } });
    // In the order of the subgraph operation the planner wrote, which need not be the client's.
    expect(response.errors?.map((error) => error.path)).toHaveLength(3);
    expect(response.errors?.map((error) => error.path)).toEqual(
      expect.arrayContaining([
        ['me', 'unread'],
        ['me', 'latest'],
        ['me', 'notificationPreferences'],
      ]),
    );
  });

  it('tells clients nothing of where the subgraph runs', async () => {
    const response = await whileDown('notifications', () => ask('{ me { email unreadNotificationCount notifications { id } } }'));

    expect(response.errors?.map((error) => error.path)).toEqual([
      ['me', 'unreadNotificationCount'],
      ['me', 'notifications'],
    ]);
    expect(JSON.stringify(response.errors)).not.toMatch(/127\.0\.0\.1|localhost|ECONN|:\d{2,5}\b|stack|http/i);
  });

  it('takes a 502, 503 or 504 from whatever stands in front of a subgraph for that subgraph being down', async () => {
    // A load balancer with no instance of notifications behind it.
    const balancer = createServer((_req, res) =>
      res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>503 Service Unavailable</h1>'),
    );
    await new Promise<void>((resolve) => balancer.listen(0, '127.0.0.1', resolve));
    try {
      const behindBalancer = await stack.startGateway({
        SUBGRAPH_NOTIFICATIONS_URL: `http://127.0.0.1:${(balancer.address() as AddressInfo).port}/graphql`,
      });

      const response = await postGraphQL(behindBalancer.graphqlUrl, '{ me { email unreadNotificationCount } }', { token: owner.token });

      expect(response.data).toEqual({ me: { email: owner.email, unreadNotificationCount: null } });
      expect(response.errors).toEqual([unavailable('notifications', ['me', 'unreadNotificationCount'])]);
    } finally {
      await new Promise((resolve) => balancer.close(resolve));
    }
  });

  it('answers in full again as soon as the subgraph is back', async () => {
    await whileDown('notifications', () => ask('{ me { unreadNotificationCount } }'));

    const response = await ask('{ me { email unreadNotificationCount } notifications(first: 5) { id } }');

    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({ me: { email: owner.email, unreadNotificationCount: 0 }, notifications: [] });
  });
});
