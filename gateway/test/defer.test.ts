import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { Defer20220824Handler } from '@apollo/client/incremental';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway.ts';
import { startEdgeFixture, type EdgeFixture } from './support/edge-fixture.ts';
import { ProtocolSession } from './support/ws-session.ts';

type Json = Record<string, unknown>;

const MULTIPART = 'multipart/mixed;deferSpec=20220824,application/json';

/** A payload without its `extensions` (the cost estimate demand control adds to the first). */
function withoutExtensions({ extensions: _extensions, ...payload }: Json): Json {
  return payload;
}

/** The JSON payloads of a multipart/mixed response with boundary "-", in order. */
function multipartPayloads(body: string): Json[] {
  return body
    .split('\r\n---')
    .map((part) => part.slice(part.indexOf('\r\n\r\n') + 4).trim())
    .filter((part) => part.startsWith('{'))
    .map((part) => withoutExtensions(JSON.parse(part) as Json));
}

/** The data of every `next` event of a Server-Sent Events response, in order, and whether it completed. */
function serverSentEvents(body: string): { next: Json[]; completed: boolean } {
  const events = body.split('\n\n').filter((event) => event.trim() !== '');
  const next = events
    .filter((event) => event.startsWith('event: next'))
    .map((event) => withoutExtensions(JSON.parse(event.slice(event.indexOf('data: ') + 'data: '.length)) as Json));
  return { next, completed: events.some((event) => event.startsWith('event: complete')) };
}

/** Reads a multipart response part by part, as the parts arrive. */
function partReader(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  const ready: Json[] = [];
  return {
    /** The next part's payload, waiting for it to arrive. */
    async next(): Promise<Json | undefined> {
      while (ready.length === 0) {
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffered += decoder.decode(value, { stream: true });
        const pieces = buffered.split('\r\n---');
        buffered = pieces.pop() ?? '';
        ready.push(...multipartPayloads(pieces.map((piece) => `\r\n---${piece}`).join('')));
      }
      return ready.shift();
    },
  };
}

/** Resolves once `condition` holds, checked after each turn of the event loop. */
function until(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (condition() ? resolve() : setImmediate(check));
    check();
  });
}

/** What Apollo Client's cache holds as a query's result evolves: each emission's data and whether it is complete. */
function watch(client: ApolloClient, query: string) {
  const emissions: { data: unknown; dataState: string }[] = [];
  let notify: (() => void) | undefined;
  const subscription = client.watchQuery({ query: gql(query), fetchPolicy: 'network-only' }).subscribe({
    next: (result) => {
      if (result.dataState === 'empty') return;
      emissions.push({ data: result.data, dataState: result.dataState });
      notify?.();
    },
  });
  return {
    emissions,
    /** Resolves once `count` emissions have arrived. */
    until: (count: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (emissions.length >= count) resolve();
        };
        notify = check;
        check();
      }),
    stop: () => subscription.unsubscribe(),
  };
}

describe('@defer through the gateway', () => {
  let fixture: EdgeFixture;
  let gateway: RunningGateway;

  const client = () =>
    new ApolloClient({
      link: new HttpLink({ uri: gateway.graphqlUrl }),
      cache: new InMemoryCache(),
      incrementalHandler: new Defer20220824Handler(),
    });

  const post = (query: string, accept = 'application/json', variables?: Json) =>
    fetch(gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept },
      body: JSON.stringify({ query, ...(variables ? { variables } : {}) }),
    });

  beforeAll(async () => {
    fixture = await startEdgeFixture();
    gateway = await fixture.gateway();
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it('gives Apollo Client the primary data first and the deferred fragment once its subgraph answers', async () => {
    const watched = watch(client(), '{ topProducts(first: 1) { upc name } ... @defer(label: "late") { slow } }');
    await watched.until(1);
    // The slow field's subgraph holds its answer until released: the primary data came without waiting for it.
    expect(watched.emissions[0]).toEqual({
      // Apollo Client adds __typename to every selection set, the deferred fragment's included, so it comes first.
      data: { __typename: 'Query', topProducts: [{ __typename: 'Product', upc: '1', name: 'Product 1' }] },
      dataState: 'streaming',
    });

    await until(() => fixture.slowCalls() > 0);
    fixture.releaseSlow();
    await watched.until(2);
    expect(watched.emissions.at(-1)).toEqual({
      data: { __typename: 'Query', topProducts: [{ __typename: 'Product', upc: '1', name: 'Product 1' }], slow: 'finally' },
      dataState: 'complete',
    });
    watched.stop();
  });

  it('ends with exactly the data of the same query without @defer, nested deferred fragments in lists included', async () => {
    const fields = (defer: (label: string) => string, innerDefer: string) =>
      `{ topProducts(first: 3) { upc ... ${defer('products')} { name reviews { body author { username ... ${innerDefer} { name } } } } } me { id ...U ${defer('me')} } } fragment U on User { birthday }`;
    const plain = (await (await post(fields(() => '', ''))).json()) as Json;
    expect(plain.errors).toBeUndefined();

    const watched = watch(
      client(),
      fields((label) => `@defer(label: "${label}")`, '@defer'),
    );
    await until(() => watched.emissions.at(-1)?.dataState === 'complete');
    expect(watched.emissions.length).toBeGreaterThan(1);
    const withoutTypenames = JSON.parse(
      JSON.stringify(watched.emissions.at(-1)!.data, (key, value: unknown) => (key === '__typename' ? undefined : value)),
    );
    expect(withoutTypenames).toEqual(plain.data);
    watched.stop();
  });

  it('sends each deferred fragment at its concrete path, with its label, in the multipart format Apollo Router uses', async () => {
    const response = await post('{ topProducts(first: 2) { upc ... @defer(label: "stock") { inStock } } }', MULTIPART);
    expect(response.headers.get('content-type')).toBe('multipart/mixed; boundary="-"; deferSpec=20220824');
    const body = await response.text();
    expect(body.endsWith('\r\n-----\r\n')).toBe(true);
    expect(multipartPayloads(body)).toEqual([
      { data: { topProducts: [{ upc: '1' }, { upc: '2' }] }, hasNext: true },
      {
        incremental: [
          { data: { inStock: true }, path: ['topProducts', 0], label: 'stock' },
          { data: { inStock: true }, path: ['topProducts', 1], label: 'stock' },
        ],
        hasNext: false,
      },
    ]);
  });

  it('answers a client that does not take multipart all at once, and `if: false` is not deferred', async () => {
    const query = 'query ($later: Boolean!) { me { id ... @defer(if: $later) { name } } }';
    const whole = await post(query, 'application/json', { later: true });
    expect(whole.headers.get('content-type')).toContain('application/json');
    expect(withoutExtensions((await whole.json()) as Json)).toEqual({ data: { me: { id: '1', name: 'User 1' } } });

    const notDeferred = await post(query, MULTIPART, { later: false });
    expect(notDeferred.headers.get('content-type')).toContain('application/json');
    expect(withoutExtensions((await notDeferred.json()) as Json)).toEqual({ data: { me: { id: '1', name: 'User 1' } } });

    const deferred = await post(query, MULTIPART, { later: true });
    expect(multipartPayloads(await deferred.text())).toEqual([
      { data: { me: { id: '1' } }, hasNext: true },
      { incremental: [{ data: { name: 'User 1' }, path: ['me'] }], hasNext: false },
    ]);
  });

  it('defers a fragment whose `if` variable is omitted, as the argument defaults to true, and refuses a null one as bad input', async () => {
    const query = 'query ($later: Boolean) { me { id ... @defer(if: $later) { name } } }';
    const omitted = await post(query, MULTIPART);
    expect(multipartPayloads(await omitted.text())).toEqual([
      { data: { me: { id: '1' } }, hasNext: true },
      { incremental: [{ data: { name: 'User 1' }, path: ['me'] }], hasNext: false },
    ]);

    for (const accept of [MULTIPART, 'application/json']) {
      const refused = await post(query, accept, { later: null });
      expect(refused.status).toBe(400);
      expect(withoutExtensions((await refused.json()) as Json)).toEqual({
        errors: [
          {
            message: 'Variable "$later" cannot be null: a directive\'s argument "if" is a non-null Boolean',
            extensions: { code: 'BAD_USER_INPUT' },
          },
        ],
      });
    }
  });

  it('refuses a @defer label given as a variable, or used twice, as invalid, over HTTP and graphql-ws', async () => {
    const invalid = [
      [
        'query ($label: String = "me") { me { id ... @defer(label: $label) { name } } }',
        'The label of @defer must be a string written in the document, not a variable',
      ],
      ['{ me { ... @defer(label: "x") { id } ... @defer(label: "x") { name } } }', 'Two @defer cannot share the label "x"'],
    ];
    const session = await ProtocolSession.open(gateway.graphqlUrl);
    try {
      expect(await session.init()).toBe(true);
      for (const [query, message] of invalid) {
        const response = await post(query!, MULTIPART);
        expect(response.status).toBe(400);
        const { errors } = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
        expect(errors.map((error) => [error.message, error.extensions.code])).toEqual([[message, 'GRAPHQL_VALIDATION_FAILED']]);

        const outcome = await session.run({ query: query! });
        expect(outcome.results.flatMap((result) => result.errors ?? []).map((error) => [error.message, error.extensions?.code])).toEqual([
          [message, 'GRAPHQL_VALIDATION_FAILED'],
        ]);
      }
    } finally {
      session.close();
    }
  });

  it('sends a deferred fragment as soon as its subgraph answers, before another that is still waiting', async () => {
    const response = await post('{ me { id ... @defer(label: "fast") { name } } ... @defer(label: "slow") { slow } }', MULTIPART);
    const parts = partReader(response);
    expect(await parts.next()).toEqual({ data: { me: { id: '1' } }, hasNext: true });
    expect(await parts.next()).toEqual({ incremental: [{ data: { name: 'User 1' }, path: ['me'], label: 'fast' }], hasNext: true });

    await until(() => fixture.slowCalls() > 0);
    fixture.releaseSlow();
    expect(await parts.next()).toEqual({ incremental: [{ data: { slow: 'finally' }, path: [], label: 'slow' }], hasNext: false });
    expect(await parts.next()).toBeUndefined();
  });

  it('ends a deferred fragment that outlives the operation timeout with GATEWAY_TIMEOUT in its item', async () => {
    const impatient = await fixture.gateway({ OPERATION_TIMEOUT_MS: '2000' });
    const post = (query: string, accept: string) =>
      fetch(impatient.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept },
        body: JSON.stringify({ query }),
      });
    // A new gateway's planner starts with its first operation, which alone may outlast 2 s on a busy machine.
    while ((await post('{ me { id } }', 'application/json')).status !== 200);

    const response = await post('{ me { id } ... @defer(label: "late") { slow } }', MULTIPART);
    expect(multipartPayloads(await response.text())).toEqual([
      { data: { me: { id: '1' } }, hasNext: true },
      {
        incremental: [
          {
            data: null,
            path: [],
            label: 'late',
            errors: [{ message: 'The deferred part of the operation did not finish in time', extensions: { code: 'GATEWAY_TIMEOUT' } }],
          },
        ],
        hasNext: false,
      },
    ]);
  });

  it('puts an error of a deferred fragment in its own incremental item, with its code and nothing internal', async () => {
    const body = await (await post('{ me { id } ... @defer(label: "broken") { failing } }', MULTIPART)).text();
    expect(multipartPayloads(body)).toEqual([
      { data: { me: { id: '1' } }, hasNext: true },
      {
        incremental: [
          {
            data: { failing: null },
            path: [],
            label: 'broken',
            errors: [
              {
                message: 'Internal server error',
                path: ['failing'],
                extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'troubled' },
              },
            ],
          },
        ],
        hasNext: false,
      },
    ]);
    expect(body).not.toMatch(/ECONNREFUSED|secrets|10\.0\.0\.7/);
  });

  it('applies the operation limits to deferred fragments as to any other selection', async () => {
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: id`).join(' ');
    const response = await post(`{ me { id ... @defer { ${aliases} } } }`, MULTIPART);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe(
      'MAX_ALIASES_LIMIT',
    );
  });

  it('streams deferred fragments over graphql-ws as several next messages, then complete', async () => {
    const session = await ProtocolSession.open(gateway.graphqlUrl);
    try {
      expect(await session.init()).toBe(true);
      const outcome = await session.run({ query: '{ me { id ... @defer(label: "name") { name } } }' });
      expect(outcome.results.map((result) => withoutExtensions(result as Json))).toEqual([
        { data: { me: { id: '1' } }, hasNext: true },
        { incremental: [{ data: { name: 'User 1' }, path: ['me'], label: 'name' }], hasNext: false },
      ]);
    } finally {
      session.close();
    }
  });

  it('streams deferred fragments over Server-Sent Events as several next events, then complete', async () => {
    const response = await post('{ me { id ... @defer { username } } }', 'text/event-stream');
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(serverSentEvents(await response.text())).toEqual({
      next: [
        { data: { me: { id: '1' } }, hasNext: true },
        { incremental: [{ data: { username: 'user1' }, path: ['me'] }], hasNext: false },
      ],
      completed: true,
    });
  });
});
