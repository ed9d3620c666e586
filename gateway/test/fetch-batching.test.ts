import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { composeSupergraph } from '@nexusflow/schema-registry';
import type { FetchNode } from '@apollo/query-planner';
import { OperationTypeNode, parse, validate } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFixtureSubgraphs, type FixtureSubgraphs } from '../../bench/gateway/fixture/server.ts';
import {
  DEEP_QUERY,
  FIXTURE_SUBGRAPHS,
  FIXTURE_SUBGRAPH_NAMES,
  fixtureSchema,
  type FixtureSubgraphName,
} from '../../bench/gateway/fixture/subgraphs.ts';
import { FetchBatches, isMergeable, mergedOperation } from '../src/execution/fetch-batching.ts';
import { FastGateway } from '../src/execution/gateway.ts';
import { SubgraphDataSource } from '../src/subgraph-data-source.ts';

const SECRET = 'a-secret-for-the-fetch-batching-tests-only';

/** Products asked at two paths with two selections: the plan fetches from products twice, in parallel. */
const TWO_PRODUCT_FETCHES = `query Both {
  users { reviews { product { ...Priced } author { reviews { product { ...Priced weight } } } } }
}
fragment Priced on Product { name price }`;

interface SeenRequest {
  subgraph: FixtureSubgraphName;
  operationName: string;
  query: string;
}

/**
 * In front of the fixture subgraphs: records each request's operation. While `refuseMerged` is set it answers a merged
 * operation with that refusal, as a subgraph with a limit on aliases (or one that is down) would; while
 * `failWeights` is set, every answer that carries products' weights also carries an error at the first one.
 */
class RecordingFront {
  readonly seen: SeenRequest[] = [];
  refuseMerged: 'no' | 'with an error' | 'with HTTP 500' | 'with HTTP 503' = 'no';
  failWeights = false;
  readonly urls = {} as Record<FixtureSubgraphName, string>;
  private readonly servers: Server[] = [];

  static async start(fixture: FixtureSubgraphs): Promise<RecordingFront> {
    const front = new RecordingFront();
    for (const name of FIXTURE_SUBGRAPH_NAMES) {
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const { operationName, query } = JSON.parse(body) as { operationName: string; query: string };
          front.seen.push({ subgraph: name, operationName, query });
          if (front.refuseMerged !== 'no' && operationName.includes('__batch')) {
            const status = { 'with an error': 200, 'with HTTP 500': 500, 'with HTTP 503': 503 }[front.refuseMerged];
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ errors: [{ message: 'Too many aliases' }] }));
            return;
          }
          fetch(fixture.urls[name], { method: 'POST', headers: { 'content-type': 'application/json' }, body })
            .then(async (answer) => {
              res.writeHead(answer.status, { 'content-type': 'application/json' });
              res.end(front.failWeights ? withWeightErrors(await answer.text()) : await answer.text());
            })
            .catch((error: unknown) => {
              res.writeHead(500);
              res.end(String(error));
            });
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      front.servers.push(server);
      front.urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    }
    return front;
  }

  merged(): SeenRequest[] {
    return this.seen.filter((request) => request.operationName.includes('__batch'));
  }

  async close(): Promise<void> {
    for (const server of this.servers) server.closeAllConnections();
    await Promise.all(this.servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** The answer with an error at the first weight of each list of entities that has weights, as a resolver would report it. */
function withWeightErrors(text: string): string {
  const answer = JSON.parse(text) as { data?: Record<string, { weight?: number }[] | null>; errors?: unknown[] };
  for (const [key, entities] of Object.entries(answer.data ?? {})) {
    if (!Array.isArray(entities) || entities[0]?.weight === undefined) continue;
    (answer.errors ??= []).push({ message: 'The scales are broken', path: [key, 0, 'weight'] });
  }
  return JSON.stringify(answer);
}

describe('entity fetches of one operation that start together', () => {
  let fixture: FixtureSubgraphs;
  let front: RecordingFront;
  let stock: ApolloServer;
  let batching: ApolloServer;
  let unbatched: ApolloServer;

  beforeAll(async () => {
    fixture = await startFixtureSubgraphs();
    front = await RecordingFront.start(fixture);
    const supergraphSdl = composeSupergraph(
      FIXTURE_SUBGRAPH_NAMES.map((name) => ({ name, url: front.urls[name], sdl: FIXTURE_SUBGRAPHS[name].typeDefs })),
    );
    const ours = (batchEntityFetches: boolean) =>
      new ApolloServer({
        gateway: new FastGateway({
          supergraphSdl,
          buildService: ({ name, url }) => new SubgraphDataSource(url!, name, SECRET, { batchEntityFetches }),
        }),
      });
    stock = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
    batching = ours(true);
    unbatched = ours(false);
    await Promise.all([stock.start(), batching.start(), unbatched.start()]);
  });

  afterAll(async () => {
    await Promise.all([stock?.stop(), batching?.stop(), unbatched?.stop()]);
    await front?.close();
    await fixture?.close();
  });

  beforeEach(() => {
    front.seen.length = 0;
    front.refuseMerged = 'no';
    front.failWeights = false;
  });

  const answer = async (server: ApolloServer, query: string) => {
    const response = await server.executeOperation({ query });
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    return JSON.stringify(response.body.singleResult);
  };

  it('go to their subgraph as one request, with the answer stock gives', async () => {
    const expected = await answer(stock, TWO_PRODUCT_FETCHES);
    front.seen.length = 0;
    expect(await answer(unbatched, TWO_PRODUCT_FETCHES)).toBe(expected);
    expect(front.seen.map(({ subgraph }) => subgraph)).toEqual(['accounts', 'reviews', 'products', 'products']);
    front.seen.length = 0;

    expect(await answer(batching, TWO_PRODUCT_FETCHES)).toBe(expected);
    expect(front.seen.map(({ subgraph, operationName }) => `${subgraph} ${operationName}`)).toEqual([
      'accounts Both__accounts__0',
      'reviews Both__reviews__1',
      'products Both__products__2__batch2',
    ]);
    // Each part keeps its own variables and fragments, renamed: the merged text is a valid operation of two parts.
    const [merged] = front.merged();
    expect(merged!.query).toMatch(/_0__entities:_entities\(representations:\$_0_representations\)/);
    expect(merged!.query).toMatch(/_1__entities:_entities\(representations:\$_1_representations\)/);
  });

  it('leave the deep query as it was: its fetches that start together go to different subgraphs or are sent once already', async () => {
    const expected = await answer(stock, DEEP_QUERY);
    front.seen.length = 0;
    expect(await answer(batching, DEEP_QUERY)).toBe(expected);
    expect(front.seen.length).toBe(13);
  });

  it.each(['with an error', 'with HTTP 500'] as const)(
    'are sent again one by one when the subgraph refuses the merged operation %s, with the answer stock gives',
    async (refusal) => {
      const expected = await answer(stock, TWO_PRODUCT_FETCHES);
      front.seen.length = 0;
      front.refuseMerged = refusal;

      expect(await answer(batching, TWO_PRODUCT_FETCHES)).toBe(expected);
      expect(front.seen.map(({ subgraph, operationName }) => `${subgraph} ${operationName}`)).toEqual([
        'accounts Both__accounts__0',
        'reviews Both__reviews__1',
        'products Both__products__2__batch2',
        'products Both__products__2',
        'products Both__products__3',
      ]);
    },
  );

  it("split the merged answer's errors by part, at the paths each part's own request gives them, as stock answers", async () => {
    front.failWeights = true;
    const expected = await answer(stock, TWO_PRODUCT_FETCHES);
    expect(expected).toContain('The scales are broken');
    front.seen.length = 0;
    expect(await answer(unbatched, TWO_PRODUCT_FETCHES)).toBe(expected);
    const unbatchedRequests = front.seen.length;
    front.seen.length = 0;

    expect(await answer(batching, TWO_PRODUCT_FETCHES)).toBe(expected);
    expect(front.merged()).toHaveLength(1);
    // Nothing is sent again for the split: one request fewer than unbatched, whatever the executor asks again itself.
    expect(front.seen.length).toBe(unbatchedRequests - 1);
  });

  it('fail every part at once, without asking an unavailable subgraph again', async () => {
    front.refuseMerged = 'with HTTP 503';
    const response = await batching.executeOperation({ query: TWO_PRODUCT_FETCHES });
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    const { errors } = response.body.singleResult;
    expect(errors?.length).toBeGreaterThan(0);
    expect(new Set(errors?.map((error) => error.extensions?.code))).toEqual(new Set(['SERVICE_UNAVAILABLE']));
    expect(front.seen.map(({ subgraph, operationName }) => `${subgraph} ${operationName}`)).toEqual([
      'accounts Both__accounts__0',
      'reviews Both__reviews__1',
      'products Both__products__2__batch2',
    ]);
  });

  it('never merge with the fetches of another client operation', async () => {
    const expected = await answer(stock, TWO_PRODUCT_FETCHES);
    front.seen.length = 0;

    const answers = await Promise.all([answer(batching, TWO_PRODUCT_FETCHES), answer(batching, TWO_PRODUCT_FETCHES)]);
    expect(answers).toEqual([expected, expected]);
    expect(front.seen.length).toBe(6);
    expect(front.merged().map(({ operationName }) => operationName)).toEqual(['Both__products__2__batch2', 'Both__products__2__batch2']);
  });
});

describe('a merged operation', () => {
  const entityFetch = (name: string, operation: string): FetchNode =>
    ({
      kind: 'Fetch',
      serviceName: 'reviews',
      operationKind: OperationTypeNode.QUERY,
      operationName: name,
      operation,
      requires: [],
    }) as unknown as FetchNode;

  it('renames the variables and fragments of each part, so that parts using the same names stay apart and the result validates', () => {
    const first = entityFetch(
      'Q__reviews__1',
      'query Q__reviews__1($representations:[_Any!]!){_entities(representations:$representations){...on User{reviews{...Review}}}}fragment Review on Review{id}',
    );
    const second = entityFetch(
      'Q__reviews__2',
      'query Q__reviews__2($representations:[_Any!]!){_entities(representations:$representations){...on Product{reviews{...Review}}}}fragment Review on Review{body}',
    );
    expect(isMergeable(first) && isMergeable(second)).toBe(true);

    const merged = mergedOperation([first, second]);
    expect(merged.query).toBe(
      'query Q__reviews__1__batch2($_0_representations:[_Any!]!$_1_representations:[_Any!]!)' +
        '{_0__entities:_entities(representations:$_0_representations){...on User{reviews{..._0_Review}}}' +
        '_1__entities:_entities(representations:$_1_representations){...on Product{reviews{..._1_Review}}}}' +
        'fragment _0_Review on Review{id}fragment _1_Review on Review{body}',
    );
    expect(validate(fixtureSchema('reviews'), parse(merged.query))).toEqual([]);
    expect(merged.variableNames.map((names) => Object.fromEntries(names))).toEqual([
      { representations: '_0_representations' },
      { representations: '_1_representations' },
    ]);
    expect(mergedOperation([first, second])).toBe(merged);
  });

  it('is not made of a fetch whose operation cannot be read: that one goes alone, the others still merge', async () => {
    const sent: string[] = [];
    const batches = new FetchBatches((serviceName) => (merged) => {
      sent.push(`${serviceName} ${merged.operationName}`);
      return Promise.resolve({ data: { _0__entities: [{ id: 'a' }], _1__entities: [{ id: 'b' }] } });
    });
    const alone = (name: string) => () => {
      sent.push(`alone ${name}`);
      return Promise.resolve({ data: { _entities: [{ id: name }] } });
    };
    const readable = (name: string) =>
      entityFetch(name, `query ${name}($representations:[_Any!]!){_entities(representations:$representations){...on User{id}}}`);
    const unreadable = entityFetch('Broken', 'query Broken($representations:[_Any!]!){_entities(');

    const answers = await Promise.all([
      batches.fetch(readable('First'), { representations: [] }, alone('First')),
      batches.fetch(unreadable, { representations: [] }, alone('Broken')),
      batches.fetch(readable('Second'), { representations: [] }, alone('Second')),
    ]);
    expect(sent).toEqual(['alone Broken', 'reviews First__batch2']);
    expect(answers.map((answer) => (answer.data as { _entities: unknown })._entities)).toEqual([
      [{ id: 'a' }],
      [{ id: 'Broken' }],
      [{ id: 'b' }],
    ]);
  });

  it('is never made of root fields, mutations or operations with directives', () => {
    const rootFetch = { ...entityFetch('R', 'query R{topProducts{upc}}'), requires: undefined } as unknown as FetchNode;
    const mutation = {
      ...entityFetch('M', 'mutation M($representations:[_Any!]!){_entities(representations:$representations){__typename}}'),
      operationKind: OperationTypeNode.MUTATION,
    };
    const directed = entityFetch('D', 'query D($representations:[_Any!]!)@traced{_entities(representations:$representations){__typename}}');
    const twoRoots = entityFetch(
      'T',
      'query T($representations:[_Any!]!){_entities(representations:$representations){__typename} _service{sdl}}',
    );
    for (const fetch of [rootFetch, mutation, directed, twoRoots]) expect(isMergeable(fetch), fetch.operationName).toBe(false);
  });
});
