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
