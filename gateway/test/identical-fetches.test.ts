import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureSubgraphs, type FixtureSubgraphs } from '../../bench/gateway/fixture/server.ts';
import { DEEP_QUERY, FIXTURE_SUBGRAPHS, FIXTURE_SUBGRAPH_NAMES } from '../../bench/gateway/fixture/subgraphs.ts';
import { FastGateway } from '../src/execution/gateway.ts';

/** Two root fields asking for the same products' reviews: the plan holds two identical reviews fetches. */
const TWIN_QUERY = `{
  first: topProducts(first: 3) { upc reviews { body } }
  second: topProducts(first: 3) { upc reviews { body } }
}`;

describe('fetches that are identical within one operation', () => {
  let fixture: FixtureSubgraphs;
  let stock: ApolloServer;
  let ours: ApolloServer;

  beforeAll(async () => {
    fixture = await startFixtureSubgraphs();
    const supergraphSdl = composeSupergraph(
      FIXTURE_SUBGRAPH_NAMES.map((name) => ({ name, url: fixture.urls[name], sdl: FIXTURE_SUBGRAPHS[name].typeDefs })),
    );
    stock = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
    ours = new ApolloServer({ gateway: new FastGateway({ supergraphSdl }) });
    await Promise.all([stock.start(), ours.start()]);
  });

  afterAll(async () => {
    await Promise.all([stock?.stop(), ours?.stop()]);
    await fixture?.close();
  });

  /** The response's body, and how many requests each subgraph answered for it. */
  const answer = async (server: ApolloServer, query: string) => {
    const before = { ...fixture.requests };
    const response = await server.executeOperation({ query });
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    const requests = Object.fromEntries(FIXTURE_SUBGRAPH_NAMES.map((name) => [name, fixture.requests[name] - before[name]]));
    return { body: JSON.stringify(response.body.singleResult), requests };
  };

  it('sends the request once and answers exactly as stock does', async () => {
    const expected = await answer(stock, TWIN_QUERY);
    expect(expected.requests.reviews).toBe(2);
    const first = await answer(ours, TWIN_QUERY);
    const again = await answer(ours, TWIN_QUERY);
    expect(first.body).toBe(expected.body);
    expect(again.body).toBe(expected.body);
    expect(first.requests).toEqual({ ...expected.requests, reviews: 1 });
    expect(again.requests).toEqual(first.requests);
  });

  it('answers the deep query exactly as stock does, its three repeated fetches sent once each', async () => {
    const expected = await answer(stock, DEEP_QUERY);
    const ourAnswer = await answer(ours, DEEP_QUERY);
    expect(ourAnswer.body).toBe(expected.body);
    const total = (requests: Record<string, number>) => Object.values(requests).reduce((sum, count) => sum + count, 0);
    expect(total(expected.requests)).toBe(16);
    expect(total(ourAnswer.requests)).toBe(13);
  });
});
