import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { GraphQLError, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveSubgraph, startFixtureSubgraphs, type FixtureSubgraphs } from '../../bench/gateway/fixture/server.ts';
import { DEEP_QUERY, FIXTURE_SUBGRAPHS, FIXTURE_SUBGRAPH_NAMES, SINGLE_SUBGRAPH_QUERY } from '../../bench/gateway/fixture/subgraphs.ts';
import { FastGateway } from '../src/execution/gateway.ts';

/** A subgraph whose fields fail in the ways subgraphs fail: errors with and without codes, nulls where none may be. */
const TROUBLED_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query { failing: String coded: Int brokenList: [Product!] }
  type Product @key(fields: "upc") { upc: String! mustExist: String! mayFail: String }
  enum Mood { CALM LOUD }
  extend type Query { mood(loud: Boolean): Mood }`;

const troubledSchema = buildSubgraphSchema([
  {
    typeDefs: parse(TROUBLED_SDL),
    resolvers: {
      Query: {
        failing: () => {
          throw new Error('plain failure');
        },
        coded: () => {
          throw new GraphQLError('coded failure', { extensions: { code: 'BAD_USER_INPUT' } });
        },
        brokenList: () => [{ upc: '1' }, { upc: '2' }],
        mood: (_: unknown, args: { loud?: boolean }) => (args.loud ? 'LOUD' : 'CALM'),
      },
      Product: {
        __resolveReference: (ref: { upc: string }) => ref,
        mustExist: (product: { upc: string }) => (product.upc === '2' ? null : `exists ${product.upc}`),
        mayFail: (product: { upc: string }) => {
          if (product.upc === '3') throw new Error(`cannot read ${product.upc}`);
          return `fine ${product.upc}`;
        },
      },
    } as never,
  },
]);

/** Every query shape the gateway must answer exactly as stock does, errors included. */
const CASES: { name: string; query: string; variables?: Record<string, unknown>; operationName?: string }[] = [
  { name: 'the deep query across four subgraphs', query: DEEP_QUERY },
  { name: 'a query served by one subgraph', query: SINGLE_SUBGRAPH_QUERY },
  {
    name: 'aliases, the same field through two fragments, and __typename',
    query: `query { first: topProducts(first: 2) { t: __typename upc ...A ...B } again: topProducts(first: 1) { name } }
      fragment A on Product { name reviews { body author { username } } }
      fragment B on Product { name price reviews { id author { name } } }`,
  },
  {
    name: 'variables, defaults and @skip/@include',
    query: `query Q($n: Int = 3, $withReviews: Boolean!, $skipPrice: Boolean = true) {
      topProducts(first: $n) { upc price @skip(if: $skipPrice) reviews @include(if: $withReviews) { body } shippingEstimate }
    }`,
    variables: { withReviews: true },
  },
  { name: 'a chosen operation among several', query: 'query A { me { id } } query B { users { id name } }', operationName: 'B' },
  { name: 'an entity that does not exist', query: '{ user(id: "404") { id name reviews { body } } }' },
  { name: 'a variable of the wrong type', query: 'query ($n: Int) { topProducts(first: $n) { upc } }', variables: { n: 'three' } },
  { name: 'a resolver error without a code', query: '{ failing topProducts(first: 1) { upc } }' },
  { name: 'a resolver error with a code', query: '{ coded }' },
  { name: 'a null in a non-null field of an entity, bubbling up', query: '{ brokenList { upc mustExist name } }' },
  { name: 'an entity field that fails for one entity', query: '{ topProducts(first: 4) { upc mayFail name } }' },
  {
    name: 'entities that recur in nested lists, one of which fails',
    query: '{ users { id reviews { id product { upc mayFail name } } } }',
  },
  {
    name: 'entities that recur in nested lists, one of which breaks a non-null field',
    query: '{ users { id reviews { product { upc mustExist } } } }',
  },
  { name: 'an enum', query: '{ calm: mood loud: mood(loud: true) }' },
  {
    name: 'introspection next to data',
    query: '{ __typename __type(name: "Product") { name fields { name } } topProducts(first: 1) { upc } }',
  },
];

describe('our gateway gives the same responses as stock @apollo/gateway', () => {
  let fixture: FixtureSubgraphs;
  let troubled: Server;
  let stock: ApolloServer;
  let ours: ApolloServer;

  beforeAll(async () => {
    fixture = await startFixtureSubgraphs();
    troubled = serveSubgraph(troubledSchema);
    await new Promise<void>((resolve) => troubled.listen(0, '127.0.0.1', resolve));
    const troubledUrl = `http://127.0.0.1:${(troubled.address() as AddressInfo).port}/graphql`;
    const supergraphSdl = composeSupergraph([
      ...FIXTURE_SUBGRAPH_NAMES.map((name) => ({ name, url: fixture.urls[name], sdl: FIXTURE_SUBGRAPHS[name].typeDefs })),
      { name: 'troubled', url: troubledUrl, sdl: TROUBLED_SDL },
    ]);
    // The same server and the same data sources on both sides: only the execution of plans differs.
    stock = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
    ours = new ApolloServer({ gateway: new FastGateway({ supergraphSdl }) });
    await Promise.all([stock.start(), ours.start()]);
  });

  afterAll(async () => {
    await Promise.all([stock?.stop(), ours?.stop()]);
    await fixture?.close();
    if (troubled) await new Promise((resolve) => troubled.close(resolve));
  });

  const answer = async (server: ApolloServer, request: (typeof CASES)[number]) => {
    const response = await server.executeOperation({
      query: request.query,
      variables: request.variables,
      operationName: request.operationName,
    });
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    return JSON.stringify(response.body.singleResult);
  };

  it.each(CASES)('for $name', async (request) => {
    const expected = await answer(stock, request);
    // Twice: the second answer comes from the prepared operation our gateway keeps.
    expect(await answer(ours, request)).toBe(expected);
    expect(await answer(ours, request)).toBe(expected);
  });

  it('answers each case with data or with the errors stock gives, not with an exception', async () => {
    const bodies = await Promise.all(CASES.map((request) => answer(ours, request)));
    expect(bodies.filter((body) => body.includes('"errors"')).length).toBeGreaterThanOrEqual(5);
    expect(bodies.every((body) => !body.includes('Unexpected error during query plan execution'))).toBe(true);
  });
});
