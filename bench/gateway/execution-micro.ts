/**
 * The deep query's execution alone, our executor against stock @apollo/gateway, both behind @apollo/server's
 * `executeOperation` (no HTTP): the subgraphs' answers are recorded once from the fixture subgraphs and replayed
 * as text, parsed on every fetch as a real answer is. CPU per operation, so that it holds on a shared machine.
 * Not a test: `npx tsx bench/gateway/execution-micro.ts [operations]`.
 */
import { ApolloGateway, type GraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { ApolloServer, type BaseContext } from '@apollo/server';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { FastGateway } from '../../gateway/src/execution/gateway.ts';
import { asStockServes } from '../../gateway/src/execution/supergraph.ts';
import { SubgraphDataSource } from '../../gateway/src/subgraph-data-source.ts';
import { startFixtureSubgraphs } from './fixture/server.ts';
import { DEEP_QUERY, FIXTURE_SUBGRAPHS, FIXTURE_SUBGRAPH_NAMES } from './fixture/subgraphs.ts';

const operations = Number(process.argv[2] ?? 300);
const recorded = new Map<string, string>();

/** Answers from the recording, as text parsed per fetch; records what it has not seen yet from the real subgraph. */
class ReplayDataSource implements GraphQLDataSource {
  constructor(private readonly live: SubgraphDataSource) {}
  async process(options: GraphQLDataSourceProcessOptions) {
    const { query, variables, operationName } = options.request;
    const body = JSON.stringify({ query, variables, operationName });
    let text = recorded.get(body);
    if (text === undefined) {
      text = JSON.stringify(await this.live.process(options as Parameters<SubgraphDataSource['process']>[0]));
      recorded.set(body, text);
    }
    return JSON.parse(text) as Awaited<ReturnType<GraphQLDataSource['process']>>;
  }
}

const fixture = await startFixtureSubgraphs({ memoize: true });
const supergraphSdl = composeSupergraph(
  FIXTURE_SUBGRAPH_NAMES.map((name) => ({ name, url: fixture.urls[name], sdl: FIXTURE_SUBGRAPHS[name].typeDefs })),
);
const buildService = ({ name, url }: { name: string; url?: string }) =>
  new ReplayDataSource(new SubgraphDataSource(url!, name, 'bench'.repeat(8)));
const servers = {
  ours: new ApolloServer<BaseContext>({ gateway: new FastGateway({ supergraphSdl, buildService }) }),
  stock: new ApolloServer<BaseContext>({ gateway: new ApolloGateway({ supergraphSdl: asStockServes(supergraphSdl), buildService }) }),
};
const answer = async (server: ApolloServer<BaseContext>) => {
  const response = await server.executeOperation({ query: DEEP_QUERY }, { contextValue: { identity: { kind: 'anonymous' } } });
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  return JSON.stringify(response.body.singleResult);
};
for (const server of Object.values(servers)) await server.start();
const [ours, stock] = [await answer(servers.ours), await answer(servers.stock)];
if (ours !== stock) throw new Error('the executors answered differently');
const cpuPerOperation: Record<string, number> = {};
for (let round = 0; round < 3; round++) {
  for (const [name, server] of Object.entries(servers)) {
    for (let i = 0; i < 50; i++) await answer(server);
    const before = process.cpuUsage();
    // Ten in flight at a time, as under load: their trees are alive together, as they are in a busy gateway.
    let started = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (started++ < operations) await answer(server);
      }),
    );
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000 / operations;
    cpuPerOperation[name] = Math.min(cpuPerOperation[name] ?? Infinity, ms);
  }
}
console.log(
  `${(ours.length / 1024).toFixed(1)} KB per response; CPU per operation (best of 3 rounds): ours ${cpuPerOperation.ours!.toFixed(2)} ms, stock ${cpuPerOperation.stock!.toFixed(2)} ms, stock / ours ${(cpuPerOperation.stock! / cpuPerOperation.ours!).toFixed(2)}×`,
);
for (const server of Object.values(servers)) await server.stop();
await fixture.close();
process.exit(0);
