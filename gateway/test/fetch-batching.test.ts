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
import { FetchBatches, mergedOperation } from '../src/execution/fetch-batching.ts';
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
 * In front of the fixture subgraphs: records each request's operation, and while `refuseMerged` is set answers a
 * merged operation with an error, as a subgraph with a limit on aliases would.
 */
class RecordingFront {
  readonly seen: SeenRequest[] = [];
  refuseMerged: 'no' | 'with an error' | 'with HTTP 500' = 'no';
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
            const refusal = front.refuseMerged === 'with an error' ? 200 : 500;
            res.writeHead(refusal, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ errors: [{ message: 'Too many aliases' }] }));
            return;
          }
          fetch(fixture.urls[name], { method: 'POST', headers: { 'content-type': 'application/json' }, body })
            .then(async (answer) => {
              res.writeHead(answer.status, { 'content-type': 'application/json' });
              res.end(await answer.text());
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
    expect(FetchBatches.canMerge(first) && FetchBatches.canMerge(second)).toBe(true);

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
    for (const fetch of [rootFetch, mutation, directed, twoRoots]) expect(FetchBatches.canMerge(fetch), fetch.operationName).toBe(false);
  });
});
