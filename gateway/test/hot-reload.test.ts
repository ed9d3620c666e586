import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDeferred, createTempDirectory, postGraphQL } from '@nexusflow/kit/testing';
import { composeSupergraph, SchemaRegistry, type SubgraphSource } from '@nexusflow/schema-registry';
import { loadGatewayConfig } from '../src/config.ts';
import { startGateway, type RunningGateway } from '../src/gateway.ts';
import type { SupergraphUpdate } from '../src/supergraph-source.ts';

const V1 = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Book @key(fields: "isbn") { isbn: ID! title: String! }
  type Query { books: [Book!]! }
`;
const V2 = V1.replace('title: String!', 'title: String! author: String!');

describe('publishing a new supergraph to a running gateway', () => {
  let library: ApolloServer;
  let libraryUrl: string;
  let gateway: RunningGateway;
  let registry: SchemaRegistry;
  let scratch: Awaited<ReturnType<typeof createTempDirectory>>;

  const version = (sdl: string): SubgraphSource[] => [{ name: 'library', url: libraryUrl, sdl }];
  const publish = async (sdl: string) => {
    const subgraphs = version(sdl);
    await registry.publish({ subgraphs, supergraphSdl: composeSupergraph(subgraphs), changes: [] });
  };
  const nextUpdate = () => {
    const update = createDeferred<SupergraphUpdate>();
    const unsubscribe = gateway.onSupergraphUpdate((event) => {
      unsubscribe();
      update.resolve(event);
    });
    return update.promise;
  };
  const query = (text: string) => postGraphQL(gateway.graphqlUrl, text);

  beforeAll(async () => {
    // The subgraph is deployed first, already able to serve the field the new supergraph will add.
    library = new ApolloServer({
      schema: buildSubgraphSchema({
        typeDefs: parse(V2),
        resolvers: {
          Query: { books: () => [{ isbn: '978-0131103627', title: 'The C Programming Language', author: 'Kernighan and Ritchie' }] },
        },
      }),
    });
    libraryUrl = (await startStandaloneServer(library, { listen: { port: 0, host: '127.0.0.1' } })).url;
  });

  // Each test has a registry and a gateway of its own, starting from V1, so that none depends on what another published.
  beforeEach(async () => {
    scratch = await createTempDirectory('hot-reload');
    registry = new SchemaRegistry(join(scratch.path, 'registry'));
    await publish(V1);
    gateway = await startGateway(
      loadGatewayConfig({
        PORT: '0',
        LOG_LEVEL: 'silent',
        SUPERGRAPH_PATH: registry.publishedSupergraphPath,
        SUPERGRAPH_POLL_INTERVAL_MS: '25',
      }),
    );
  });

  afterEach(async () => {
    await gateway?.close();
    await scratch?.remove();
  });

  afterAll(async () => {
    await library?.stop();
  });

  it('keeps answering every request while it switches, then serves the new field, without a restart', async () => {
    expect((await query('{ books { author } }')).errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const switched = nextUpdate();
    let switching = true;
    const statuses: string[] = [];
    const traffic = Array.from({ length: 4 }, async () => {
      while (switching) {
        const response = await query('{ books { isbn title } }');
        statuses.push(response.errors ? `error: ${response.errors[0]?.message}` : 'ok');
      }
    });
    await publish(V2);
    expect(await switched).toEqual({ outcome: 'loaded' });
    switching = false;
    await Promise.all(traffic);

    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((status) => status !== 'ok')).toEqual([]);
    expect((await query('{ books { author } }')).data).toEqual({ books: [{ author: 'Kernighan and Ritchie' }] });
  });

  it('keeps serving the previous supergraph when the new file cannot be loaded', async () => {
    const rejected = nextUpdate();
    const temporary = `${registry.publishedSupergraphPath}.tmp`;
    await writeFile(temporary, 'schema @link(url: "https://specs.apollo.dev/link/v1.0") { query: Query } type Query { broken: Nope }');
    await rename(temporary, registry.publishedSupergraphPath);

    expect((await rejected).outcome).toBe('rejected');
    expect((await query('{ books { title } }')).data).toEqual({ books: [{ title: 'The C Programming Language' }] });
    expect((await query('{ books { author } }')).errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/supergraph_updates_total\{[^}]*outcome="rejected"[^}]*\} 1/);
    expect(metrics).not.toMatch(/supergraph_updates_total\{[^}]*outcome="loaded"[^}]*\} [1-9]/);
  });
});
