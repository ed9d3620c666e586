import { createRequire } from 'node:module';
import { composeServices } from '@apollo/composition';
import { operationFromDocument, Supergraph, type Operation } from '@apollo/federation-internals';
import { ApolloGateway, LocalGraphQLDataSource } from '@apollo/gateway';
import { computeResponse as apolloComputeResponse } from '@apollo/gateway/dist/resultShaping.js';
import { ApolloServer } from '@apollo/server';
import { parse } from 'graphql';
import { computeResponse } from '../../gateway/src/execution/result-shaping.ts';
import { DEEP_QUERY, FIXTURE_SUBGRAPH_NAMES, FIXTURE_SUBGRAPHS, fixtureSchema, type FixtureSubgraphName } from './fixture/subgraphs.ts';

/**
 * Result shaping alone, stock against gateway/src/execution/result-shaping.ts, on what stock's
 * `executeQueryPlan` hands to `computeResponse` for the deep benchmark query (captured from a real run).
 * Not a test: `npx tsx bench/gateway/shaping-micro.ts [iterations]`.
 */
const iterations = Number(process.argv[2] ?? 500);

const composition = composeServices(
  FIXTURE_SUBGRAPH_NAMES.map((name) => ({
    name,
    url: `http://${name}.invalid/graphql`,
    typeDefs: parse(FIXTURE_SUBGRAPHS[name].typeDefs),
  })),
);
if (!composition.supergraphSdl) throw new Error(`composition failed: ${composition.errors?.map((error) => error.message).join('; ')}`);
const supergraphSdl = composition.supergraphSdl;

// executeQueryPlan reads computeResponse off the CommonJS exports object at each call, so swapping it there sees the input.
const shapingModule = createRequire(import.meta.url)('@apollo/gateway/dist/resultShaping.js') as {
  computeResponse: typeof apolloComputeResponse;
};
const original = shapingModule.computeResponse;
let input: Record<string, unknown> | undefined;
shapingModule.computeResponse = (args) => {
  input ??= structuredClone(args.input ?? undefined) as Record<string, unknown>;
  return original(args);
};
const server = new ApolloServer({
  gateway: new ApolloGateway({
    supergraphSdl,
    buildService: ({ name }) => new LocalGraphQLDataSource(fixtureSchema(name as FixtureSubgraphName)),
  }),
});
await server.start();
await server.executeOperation({ query: DEEP_QUERY });
await server.stop();
shapingModule.computeResponse = original;
if (!input) throw new Error('computeResponse was not called');

const operation: Operation = operationFromDocument(Supergraph.build(supergraphSdl).apiSchema(), parse(DEEP_QUERY), { validate: false });
const args = { operation, variables: {}, input, introspectionHandling: () => null };
const stockJson = JSON.stringify(apolloComputeResponse(args).data);
if (JSON.stringify(computeResponse(args).data) !== stockJson) throw new Error('the port and stock disagree');
console.log(`input ${JSON.stringify(input).length} bytes, response ${stockJson.length} bytes`);

/** CPU time rather than wall time: the figures should not depend on what else the machine is running. */
function msPerCall(shape: typeof computeResponse, n = iterations): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) shape(args);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / n;
}

// Neither implementation changes its input, so the same input serves every call. Rounds alternate so that
// neither side always runs on a warmer or more fragmented heap; the minimum is the least disturbed round.
for (let i = 0; i < 300; i++) {
  apolloComputeResponse(args);
  computeResponse(args);
}
const stock: number[] = [];
const port: number[] = [];
for (let round = 0; round < 10; round++) {
  stock.push(msPerCall(apolloComputeResponse, Math.ceil(iterations / 10)));
  port.push(msPerCall(computeResponse));
}
const min = (values: number[]) => Math.min(...values);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(
  `stock computeResponse: min ${min(stock).toFixed(3)} ms/call, median ${median(stock).toFixed(3)} (CPU time, ${Math.ceil(iterations / 10)} calls per round)`,
);
console.log(
  `port  computeResponse: min ${min(port).toFixed(3)} ms/call, median ${median(port).toFixed(3)} (CPU time, ${iterations} calls per round)`,
);
console.log(`speed-up: ${(min(stock) / min(port)).toFixed(1)}x (min), ${(median(stock) / median(port)).toFixed(1)}x (median)`);

// Cold: a fresh Operation per call, so the port compiles every selection set again (what it costs when the
// caller does not reuse operations, as stock's executeQueryPlan does not).
const document = parse(DEEP_QUERY);
const apiSchema = operation.schema();
const cold = (shape: typeof computeResponse) => {
  const n = Math.max(20, Math.floor(iterations / 20));
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) shape({ ...args, operation: operationFromDocument(apiSchema, document, { validate: false }) });
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / n;
};
cold(apolloComputeResponse);
cold(computeResponse);
console.log(
  `with operationFromDocument per call: stock ${cold(apolloComputeResponse).toFixed(3)} ms, port ${cold(computeResponse).toFixed(3)} ms (CPU time)`,
);
