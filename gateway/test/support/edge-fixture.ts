import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import type { Environment } from '@nexusflow/kit/core';
import { createTempDirectory } from '@nexusflow/kit/testing';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { serveSubgraph, startFixtureSubgraphs, type FixtureSubgraphs } from '../../../bench/gateway/fixture/server.ts';
import { FIXTURE_SUBGRAPH_NAMES, FIXTURE_SUBGRAPHS } from '../../../bench/gateway/fixture/subgraphs.ts';
import { loadGatewayConfig } from '../../src/config.ts';
import { startGateway, type GatewayRuntimeOptions, type RunningGateway } from '../../src/gateway.ts';

const TROUBLED_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query {
    "Fails with an internal error, whose details must never reach a client."
    failing: String
    "Answers only once the test lets it go."
    slow: String
  }`;

/** Releases the answers of `slow` held so far. */
export type Release = () => void;

export interface EdgeFixture {
  supergraphPath: string;
  /** How many times `slow` was asked for. */
  slowCalls(): number;
  releaseSlow: Release;
  /** A gateway on these subgraphs, in test mode, with `env` on top; closed with the fixture. */
  gateway(env?: Environment, runtime?: GatewayRuntimeOptions): Promise<RunningGateway>;
  close(): Promise<void>;
}

export const TEST_JWT_SECRET = 'edge-test-jwt-secret-edge-test-jwt-secret';

/**
 * The four subgraphs of the federation benchmark plus one that fails in the ways a gateway must contain, composed
 * into a supergraph file: enough to drive the gateway's edge (limits, cost, trusted documents, rate limits, WebSocket)
 * without databases.
 */
export async function startEdgeFixture(): Promise<EdgeFixture> {
  const fixture: FixtureSubgraphs = await startFixtureSubgraphs();
  let held: (() => void)[] = [];
  let slowCalls = 0;
  const troubled: Server = serveSubgraph(
    buildSubgraphSchema([
      {
        typeDefs: parse(TROUBLED_SDL),
        resolvers: {
          Query: {
            failing: () => {
              throw new Error('connect ECONNREFUSED 10.0.0.7:5432 (select * from secrets)');
            },
            slow: () => {
              slowCalls++;
              return new Promise<string>((resolve) => held.push(() => resolve('finally')));
            },
          },
        } as never,
      },
    ]),
  );
  await new Promise<void>((resolve) => troubled.listen(0, '127.0.0.1', resolve));
  const troubledUrl = `http://127.0.0.1:${(troubled.address() as AddressInfo).port}/graphql`;
  const scratch = await createTempDirectory('edge');
  const supergraphPath = join(scratch.path, 'supergraph.graphql');
  await writeFile(
    supergraphPath,
    composeSupergraph([
      ...FIXTURE_SUBGRAPH_NAMES.map((name) => ({ name, url: fixture.urls[name], sdl: FIXTURE_SUBGRAPHS[name].typeDefs })),
      { name: 'troubled', url: troubledUrl, sdl: TROUBLED_SDL },
    ]),
  );
  const gateways: RunningGateway[] = [];
  const releaseSlow = () => {
    for (const release of held) release();
    held = [];
  };
  return {
    supergraphPath,
    slowCalls: () => slowCalls,
    releaseSlow,
    async gateway(env = {}, runtime = {}) {
      const gateway = await startGateway(
        loadGatewayConfig({
          PORT: '0',
          LOG_LEVEL: 'silent',
          NODE_ENV: 'test',
          SUPERGRAPH_PATH: supergraphPath,
          JWT_SECRET: TEST_JWT_SECRET,
          // Test files run in parallel on a busy machine; the shedding tests drive the detector themselves.
          LOAD_SHEDDING_DELAY_MS: '0',
          ...env,
        }),
        runtime,
      );
      gateways.push(gateway);
      return gateway;
    },
    async close() {
      releaseSlow();
      for (const gateway of gateways) await gateway.close();
      await new Promise((resolve) => troubled.close(resolve));
      await fixture.close();
      await scratch.remove();
    },
  };
}
