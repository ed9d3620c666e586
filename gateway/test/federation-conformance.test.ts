import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { operationFromDocument, Supergraph } from '@apollo/federation-internals';
import { QueryPlanner, prettyFormatQueryPlan } from '@apollo/query-planner';
import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { serveSubgraph } from '../../bench/gateway/fixture/server.ts';
import { FastGateway } from '../src/execution/gateway.ts';

/**
 * Federation cases where stock @apollo/gateway answers wrongly (the federation gateway audit's keys-mashup and
 * non-resolvable-interface-object suites), each reduced to a small supergraph of its own. The planner's fix lives in
 * patches/ (applied by patch-package at install), the empty-plan check in the planner worker.
 */
interface SubgraphUnderTest {
  name: string;
  sdl: string;
  resolvers: Record<string, unknown>;
}

async function serveSupergraph(subgraphs: SubgraphUnderTest[]) {
  const servers: Server[] = subgraphs.map(({ sdl, resolvers }) =>
    serveSubgraph(buildSubgraphSchema([{ typeDefs: parse(sdl), resolvers: resolvers as never }])),
  );
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
  const supergraphSdl = composeSupergraph(
    subgraphs.map(({ name, sdl }, index) => ({
      name,
      sdl,
      url: `http://127.0.0.1:${(servers[index]!.address() as AddressInfo).port}/graphql`,
    })),
  );
  const server = new ApolloServer({ gateway: new FastGateway({ supergraphSdl }) });
  await server.start();
  return {
    supergraphSdl,
    async answer(query: string) {
      const response = await server.executeOperation({ query });
      if (response.body.kind !== 'single') throw new Error('expected a single result');
      const { data, errors } = response.body.singleResult;
      return { data, errors: errors?.map(({ message, extensions }) => ({ message, code: extensions?.code })) };
    },
    plan(query: string) {
      const supergraph = Supergraph.build(supergraphSdl);
      return prettyFormatQueryPlan(
        new QueryPlanner(supergraph).buildQueryPlan(operationFromDocument(supergraph.apiSchema(), parse(query))),
      );
    },
    async close() {
      await server.stop();
      await Promise.all(servers.map((each) => new Promise((resolve) => each.close(resolve))));
    },
  };
}

describe('a @requires answered by jumping back into its own subgraph', () => {
  const things: Record<string, { id: string; code: string; part: { x: string; y: string; z: string }; label: string }> = {
    t1: { id: 't1', code: 'C1', part: { x: '1', y: '2', z: '3' }, label: 'first' },
  };
  // The shelf can be entered only by `id part { y z }`: its other keys are declared resolvable: false.
  const shelf: SubgraphUnderTest = {
    name: 'shelf',
    sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@requires", "@external"])
      type Query { shelf: Shelf }
      type Shelf @key(fields: "id") { id: ID! things: [Thing!]! }
      type Thing @key(fields: "part { x y }", resolvable: false) @key(fields: "id part { y z }") @key(fields: "code", resolvable: false)
        @key(fields: "id", resolvable: false) {
        id: ID! code: ID! part: Part! label: String! @external shelfLabel: String! @requires(fields: "label")
      }
      type Part { x: ID! y: ID! z: ID! }`,
    resolvers: {
      Query: { shelf: () => ({ id: 's1' }) },
      Shelf: { things: () => Object.values(things).map(({ id, code, part }) => ({ id, code, part })) },
      Thing: {
        __resolveReference: (reference: { id?: string; part?: { z?: string }; label?: string }) => {
          const thing = reference.id ? things[reference.id] : undefined;
          return thing && reference.part?.z === thing.part.z ? { ...thing, label: reference.label } : null;
        },
        shelfLabel: ({ label }: { label: string }) => `on the shelf: ${label}`,
      },
    },
  };
  const owner: SubgraphUnderTest = {
    name: 'owner',
    sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
      type Thing @key(fields: "id") @key(fields: "code", resolvable: false) @key(fields: "part { x y }", resolvable: false)
        @key(fields: "id part { y z }", resolvable: false) {
        id: ID! code: ID! part: Part! label: String!
      }
      type Part { x: ID! y: ID! z: ID! }`,
    resolvers: { Thing: { __resolveReference: ({ id }: { id: string }) => things[id] ?? null } },
  };
  const QUERY = '{ shelf { id things { id label shelfLabel } } }';
  let graph: Awaited<ReturnType<typeof serveSupergraph>>;

  beforeAll(async () => {
    graph = await serveSupergraph([shelf, owner]);
  });

  afterAll(async () => {
    await graph?.close();
  });

  it('enters the subgraph by a key it declares resolvable, never by one declared resolvable: false', () => {
    const lastFetch = graph.plan(QUERY).split('Fetch(service: "shelf")').at(-1)!;
    expect(lastFetch).toContain('shelfLabel');
    expect(lastFetch).toMatch(/part \{\s+y\s+z\s+\}/);
    expect(lastFetch).not.toMatch(/part \{\s+x\s+y\s+\}/);
  });

  it('answers the required field instead of a null entity', async () => {
    expect(await graph.answer(QUERY)).toEqual({
      data: { shelf: { id: 's1', things: [{ id: 't1', label: 'first', shelfLabel: 'on the shelf: first' }] } },
      errors: undefined,
    });
  });
});

describe('an interface whose only implementation is a non-resolvable @interfaceObject', () => {
  const catalog: SubgraphUnderTest = {
    name: 'catalog',
    sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
      type Query { anyNode: Node }
      interface Node @key(fields: "id") { id: ID! }`,
    resolvers: { Query: { anyNode: () => ({ id: 'n1' }) }, Node: { __resolveType: () => null } },
  };
  const notes: SubgraphUnderTest = {
    name: 'notes',
    sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@interfaceObject"])
      type Query { someNode: Node }
      type Node @interfaceObject @key(fields: "id", resolvable: false) { id: ID! note: String }`,
    resolvers: { Query: { someNode: () => ({ id: 'n1', note: 'kept' }) } },
  };
  let graph: Awaited<ReturnType<typeof serveSupergraph>>;

  beforeAll(async () => {
    graph = await serveSupergraph([catalog, notes]);
  });

  afterAll(async () => {
    await graph?.close();
  });

  it('refuses a field no subgraph can answer with QUERY_PLANNING_FAILED naming it, where stock answers null silently', async () => {
    expect(graph.plan('{ anyNode { note } }')).toBe('QueryPlan {}');
    expect(await graph.answer('{ anyNode { note } }')).toEqual({
      data: undefined,
      errors: [
        {
          message: 'This operation cannot be planned: no subgraph can resolve "anyNode" for any type it may return',
          code: 'QUERY_PLANNING_FAILED',
        },
      ],
    });
  });

  it('still answers what the interface object provides, and __typename alone', async () => {
    expect(await graph.answer('{ someNode { id note } }')).toEqual({ data: { someNode: { id: 'n1', note: 'kept' } }, errors: undefined });
    expect(await graph.answer('{ __typename }')).toEqual({ data: { __typename: 'Query' }, errors: undefined });
  });
});

describe('fields required with arguments beside the same fields selected with others', () => {
  const prices: Record<string, Record<string, number>> = { p1: { USD: 10, EUR: 9 }, p2: { USD: 20, EUR: 18 } };
  const weights: Record<string, number> = { p1: 1, p2: 2 };
  const shop: SubgraphUnderTest = {
    name: 'shop',
    sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
      type Query { products: [Product] }
      type Product @key(fields: "upc") { upc: String! price(currency: String!): Int weight: Int }`,
    resolvers: {
      Query: { products: () => Object.keys(prices).map((upc) => ({ upc })) },
      Product: {
        __resolveReference: (reference: { upc: string }) => reference,
        price: ({ upc }: { upc: string }, { currency }: { currency: string }) => prices[upc]?.[currency] ?? null,
        weight: ({ upc }: { upc: string }) => weights[upc],
      },
    },
  };
  const shipping: SubgraphUnderTest = {
    name: 'shipping',
    sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
      type Product @key(fields: "upc") {
        upc: String! weight: Int @external price(currency: String!): Int @external
        shippingEstimate: Int @requires(fields: "price(currency: \\"USD\\") weight")
      }`,
    resolvers: {
      Product: {
        __resolveReference: (reference: Record<string, unknown>) => reference,
        shippingEstimate: ({ price, weight }: { price: number; weight: number }) => price * weight,
      },
    },
  };
  const comments = [
    { id: 'c1', postId: 'p1', writerId: 'w2' },
    { id: 'c2', postId: 'p1', writerId: 'w2' },
    { id: 'c3', postId: 'p1', writerId: 'w1' },
    { id: 'c4', postId: 'p2', writerId: 'w1' },
    { id: 'c5', postId: 'p2', writerId: 'w1' },
    { id: 'c6', postId: 'p2', writerId: 'w2' },
  ];
  const threads: SubgraphUnderTest = {
    name: 'threads',
    sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
      type Query { feed: [Post] }
      type Post @key(fields: "id") { id: ID! comments(limit: Int!): [Comment] @external }
      type Comment @key(fields: "id") {
        id: ID! writerId: ID post: Post @external
        threadSize: Int @requires(fields: "post { comments(limit: 10) { id } }")
      }`,
    resolvers: {
      Query: { feed: () => [{ id: 'p1' }, { id: 'p2' }] },
      // As in the audit, this subgraph can answer the field it declares @external, and the planner asks it to.
      Post: {
        comments: ({ id }: { id: string }, { limit }: { limit: number }) => comments.filter(({ postId }) => postId === id).slice(0, limit),
      },
      Comment: {
        __resolveReference: (reference: { id: string; post?: { comments: { id: string }[] } }) => {
          const comment = comments.find(({ id }) => id === reference.id);
          return comment ? { ...comment, post: reference.post } : null;
        },
        threadSize: ({ post }: { post: { comments: unknown[] } }) => post.comments.length,
      },
    },
  };
  const people: SubgraphUnderTest = {
    name: 'people',
    sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
      type Post @key(fields: "id") {
        id: ID! comments(limit: Int!): [Comment] lastWriter: Writer @requires(fields: "comments(limit: 3) { writerId }")
      }
      type Comment @key(fields: "id") { id: ID! writerId: ID @external post: Post }
      type Writer { id: ID! }`,
    resolvers: {
      Post: {
        __resolveReference: (reference: { id: string; comments?: { writerId: string }[] }) => {
          if (reference.comments && reference.comments.length !== 3)
            throw new Error(`expected the 3 required comments, got ${reference.comments.length}`);
          return { id: reference.id, lastWriterId: reference.comments?.at(-1)?.writerId };
        },
        comments: ({ id }: { id: string }, { limit }: { limit: number }) =>
          comments
            .filter(({ postId }) => postId === id)
            .slice(0, limit)
            .map((comment) => ({ id: comment.id })),
        lastWriter: ({ lastWriterId }: { lastWriterId?: string }) => (lastWriterId ? { id: lastWriterId } : null),
      },
      Comment: {
        __resolveReference: ({ id }: { id: string }) => ({ id }),
        post: ({ id }: { id: string }) => ({ id: comments.find((comment) => comment.id === id)!.postId }),
      },
    },
  };
  let graph: Awaited<ReturnType<typeof serveSupergraph>>;

  beforeAll(async () => {
    graph = await serveSupergraph([shop, shipping, threads, people]);
  });

  afterAll(async () => {
    await graph?.close();
  });

  it('computes the estimate from the required USD price while the operation reads the EUR one', async () => {
    expect(await graph.answer('{ products { upc price(currency: "EUR") shippingEstimate } }')).toEqual({
      data: {
        products: [
          { upc: 'p1', price: 9, shippingEstimate: 10 },
          { upc: 'p2', price: 18, shippingEstimate: 40 },
        ],
      },
      errors: undefined,
    });
  });

  it.each([
    ['literal arguments', '{ feed { lastWriter { id } comments(limit: 1) { id } } }', {}],
    ['a variable with a default', 'query ($limit: Int = 1) { feed { lastWriter { id } comments(limit: $limit) { id } } }', {}],
    [
      'the field in two fragments',
      `query ($limit: Int = 1) { feed { lastWriter { id } ...Recent ...Again } }
        fragment Recent on Post { comments(limit: $limit) { id } } fragment Again on Post { comments(limit: $limit) { id } }`,
      {},
    ],
  ])('gives the requiring subgraph its three comments and the operation its one, with %s', async (_name, query) => {
    expect(await graph.answer(query)).toEqual({
      data: {
        feed: [
          { lastWriter: { id: 'w1' }, comments: [{ id: 'c1' }] },
          { lastWriter: { id: 'w2' }, comments: [{ id: 'c4' }] },
        ],
      },
      errors: undefined,
    });
  });

  it('keeps a nested required field with arguments apart from the same nested field the operation selects', async () => {
    expect(await graph.answer('{ feed { comments(limit: 1) { id threadSize post { comments(limit: 2) { id } } } } }')).toEqual({
      data: {
        feed: [
          { comments: [{ id: 'c1', threadSize: 3, post: { comments: [{ id: 'c1' }, { id: 'c2' }] } }] },
          { comments: [{ id: 'c4', threadSize: 3, post: { comments: [{ id: 'c4' }, { id: 'c5' }] } }] },
        ],
      },
      errors: undefined,
    });
  });

  it('answers the required variant itself when the operation asks for exactly it', async () => {
    expect(await graph.answer('{ feed { comments(limit: 3) { writerId } lastWriter { id } } }')).toEqual({
      data: {
        feed: [
          { comments: [{ writerId: 'w2' }, { writerId: 'w2' }, { writerId: 'w1' }], lastWriter: { id: 'w1' } },
          { comments: [{ writerId: 'w1' }, { writerId: 'w1' }, { writerId: 'w2' }], lastWriter: { id: 'w2' } },
        ],
      },
      errors: undefined,
    });
  });
});
