import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempDirectory, postGraphQL } from '@nexusflow/kit/testing';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { launchScript, listeningUrl, type LaunchedProcess } from '../../test/support/processes.ts';

/**
 * Like Apollo Router's `--supergraph`, the gateway serves any composed supergraph, with no knowledge of
 * NexusFlow's subgraphs: here a plain @apollo/subgraph server that has never heard of our headers.
 */
describe('npm run gateway -- --supergraph <file> --port <n>', () => {
  let subgraph: ApolloServer;
  let gateway: LaunchedProcess;
  let gatewayUrl: string;
  let scratch: Awaited<ReturnType<typeof createTempDirectory>>;

  beforeAll(async () => {
    const typeDefs = parse(`
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
      type Book @key(fields: "isbn") { isbn: ID! title: String! }
      type Query { books: [Book!]! }
    `);
    subgraph = new ApolloServer({
      schema: buildSubgraphSchema({
        typeDefs,
        resolvers: { Query: { books: () => [{ isbn: '978-0262510875', title: 'Structure and Interpretation of Computer Programs' }] } },
      }),
    });
    const { url } = await startStandaloneServer(subgraph, { listen: { port: 0, host: '127.0.0.1' } });
    scratch = await createTempDirectory('foreign-supergraph');
    const supergraphFile = join(scratch.path, 'library.graphql');
    await writeFile(
      supergraphFile,
      composeSupergraph([{ name: 'library', url, sdl: '', file: '' }].map((s) => ({ ...s, sdl: printSdl(typeDefs) }))),
    );

    gateway = launchScript('gateway/src/main.ts', ['--supergraph', supergraphFile, '--port', '0'], {
      ...process.env,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    });
    gatewayUrl = new URL(await listeningUrl(gateway, 'gateway ready')).origin;
  });

  afterAll(async () => {
    await gateway?.stop();
    await subgraph?.stop();
    await scratch?.remove();
  });

  it('answers queries from the subgraphs of that file', async () => {
    const response = await postGraphQL(`${gatewayUrl}/graphql`, '{ books { isbn title } }');
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({ books: [{ isbn: '978-0262510875', title: 'Structure and Interpretation of Computer Programs' }] });
  });

  it('is ready once every subgraph of that file answers', async () => {
    const ready = await fetch(`${gatewayUrl}/health/ready`);
    expect(ready.status).toBe(200);
  });

  it('stops with status 0 on SIGTERM', async () => {
    expect(await gateway.stop('SIGTERM')).toBe(0);
  });
});

function printSdl(document: ReturnType<typeof parse>): string {
  return document.loc!.source.body;
}
