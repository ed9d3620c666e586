import { buildSchema } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ANONYMOUS, signIdentity } from '../platform/identity.ts';
import { createLogger } from '../platform/logger.ts';
import { createAsyncQueue } from '../messaging/async-queue.ts';
import { listenOnLoopback, type LoopbackServer } from '../testing/loopback-server.ts';
import { serveSubscriptions } from './subscriptions.ts';

const SECRET = 'subscriptions-test-secret-of-32-characters';

interface Outcome {
  next: unknown[];
  error?: unknown;
}

describe("a subgraph's subscriptions over WebSocket", () => {
  const subscribedWith: string[] = [];
  let http: LoopbackServer;
  let served: ReturnType<typeof serveSubscriptions>;
  let client: Client;

  beforeAll(async () => {
    const schema = buildSchema('type Query { ok: Boolean } type Subscription { echo(text: String!): String! }');
    schema.getSubscriptionType()!.getFields().echo!.subscribe = (_source, args: { text: string }) => {
      subscribedWith.push(args.text);
      const events = createAsyncQueue<{ echo: string }>();
      events.push({ echo: args.text });
      events.end();
      return events;
    };
    http = await listenOnLoopback((_req, res) => res.writeHead(404).end());
    served = serveSubscriptions({
      server: http.server,
      schema,
      internalSecret: SECRET,
      context: () => ({}),
      logger: createLogger({ name: 'subscriptions-test', level: 'silent' }),
    });
    client = createClient({
      url: `${http.origin.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: signIdentity(ANONYMOUS, SECRET),
      retryAttempts: 0,
    });
  });

  afterAll(async () => {
    await client?.dispose();
    await served?.close();
    await http?.close();
  });

  function subscribe(query: string, variables?: Record<string, unknown>): Promise<Outcome> {
    return new Promise((resolve) => {
      const outcome: Outcome = { next: [] };
      client.subscribe(
        { query, variables },
        {
          next: (value) => outcome.next.push(value),
          error: (error) => resolve({ ...outcome, error }),
          complete: () => resolve(outcome),
        },
      );
    });
  }

  it('refuses text with the NUL character, in a variable or a literal, with BAD_USER_INPUT before any resolver runs', async () => {
    const refused = [
      await subscribe('subscription ($text: String!) { echo(text: $text) }', { text: 'Ada\u0000' }),
      await subscribe('subscription { echo(text: "Ada\\u0000") }'),
      await subscribe('subscription { echo(text: "Ada\\u{0}") }'),
    ];

    for (const outcome of refused)
      expect(outcome).toEqual({
        next: [],
        error: [{ message: 'Text may not contain the NUL character (U+0000)', extensions: { code: 'BAD_USER_INPUT' } }],
      });
    expect(subscribedWith).toEqual([]);
  });

  it('answers a query or a mutation with BAD_REQUEST: a replayed identity on a long-lived connection may only stream', async () => {
    const query = await subscribe('{ ok }');
    const mutation = await subscribe('mutation { __typename }');

    const refusal = [
      {
        message: 'Only subscriptions are served over WebSocket; send queries and mutations over HTTP',
        extensions: { code: 'BAD_REQUEST' },
      },
    ];
    expect(query).toEqual({ next: [], error: refusal });
    expect(mutation).toEqual({ next: [], error: refusal });
  });

  it('answers a document that does not validate or parse with the codes HTTP gives them', async () => {
    const unknownField = await subscribe('subscription { nothing }');
    const broken = await subscribe('subscription {');

    expect(unknownField).toEqual({
      next: [],
      error: [expect.objectContaining({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })],
    });
    expect(broken).toEqual({ next: [], error: [expect.objectContaining({ extensions: { code: 'GRAPHQL_PARSE_FAILED' } })] });
  });

  it('closes a connection that sends a message over 1 MiB with 1009, before it is even signed in', async () => {
    const socket = new WebSocket(`${http.origin.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    socket.once('open', () => socket.send('x'.repeat(1024 * 1024 + 1)));

    expect(await closed).toBe(1009);
  });

  it('runs a subscription whose text only spells the escape', async () => {
    const outcome = await subscribe('subscription { echo(text: "Ada \\\\u0000 is text") }');

    expect(outcome).toEqual({ next: [{ data: { echo: 'Ada \\u0000 is text' } }] });
    expect(subscribedWith.at(-1)).toBe('Ada \\u0000 is text');
  });
});
