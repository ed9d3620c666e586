import { once } from 'node:events';
import { request, type ClientRequest } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDeferred, createTempDirectory, type Deferred } from '@nexusflow/kit/testing';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { launchScript, type LaunchedProcess } from '../../test/support/processes.ts';
import { loadGatewayConfig } from '../src/config.ts';

const SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Book @key(fields: "isbn") { isbn: ID! title: String! }
  type Query { books: [Book!]! slowBook: Book! }
`;
const BOOK = { isbn: '978-0131103627', title: 'The C Programming Language' };

interface Answer {
  status: number;
  body: string;
}

/** One request on a connection of its own, so that the primary hands each to the next worker in turn. */
function post(url: string, query: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    outgoing.on('error', reject);
    outgoing.end(JSON.stringify({ query }));
  });
}

/** A GET on a connection of its own; one the primary accepted while every worker was closing may never be answered. */
function get(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false, timeout: 2000 }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .on('timeout', function (this: ClientRequest) {
        this.destroy(new Error(`no answer from ${url}`));
      })
      .end();
  });
}

/** The operations the whole gateway served, as its /metrics says. */
async function operationsServed(baseUrl: string): Promise<number> {
  const metrics = await get(`${baseUrl}/metrics`);
  expect(metrics.status).toBe(200);
  const line = metrics.body.split('\n').find((each) => each.startsWith('graphql_operations_total{operation_type="query",outcome="ok"'));
  return Number(line?.split(' ').at(-1) ?? 0);
}

async function childPids(pid: number): Promise<number[]> {
  const listed = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return listed.split(' ').filter(Boolean).map(Number);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('GATEWAY_WORKERS', () => {
  it('is one process unless set, a number of workers, or one per usable core with auto', () => {
    expect(loadGatewayConfig({}).workers).toBe(1);
    expect(loadGatewayConfig({ GATEWAY_WORKERS: '3' }).workers).toBe(3);
    expect(loadGatewayConfig({ GATEWAY_WORKERS: 'auto' }).workers).toBe(availableParallelism());
  });

  it('refuses anything else, naming the variable', () => {
    for (const value of ['0', 'many', '1.5']) expect(() => loadGatewayConfig({ GATEWAY_WORKERS: value })).toThrow(/GATEWAY_WORKERS/);
  });
});

describe('a gateway with GATEWAY_WORKERS=2', () => {
  let subgraph: ApolloServer;
  let scratch: Awaited<ReturnType<typeof createTempDirectory>>;
  let supergraphPath: string;
  let slowAnswer: Deferred<typeof BOOK>;
  let slowArrived: Deferred<void>;

  const launch = (env: NodeJS.ProcessEnv) =>
    launchScript('gateway/src/main.ts', [], {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      PORT: '0',
      GATEWAY_WORKERS: '2',
      SUPERGRAPH_PATH: supergraphPath,
      RATE_LIMIT_PER_MINUTE: '0',
      RATE_LIMIT_PER_TENANT_PER_MINUTE: '0',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '0',
      USAGE_REPORTING: 'off',
      AUDIT: 'off',
      COST_IN_RESPONSE: 'false',
      // Other test files load the machine; shedding would answer these requests 503 (gateway/test/overload.test.ts tests it).
      LOAD_SHEDDING_DELAY_MS: '0',
      ...env,
    });

  /** The primary's URL and its workers' process ids, from the line it logs once every worker serves. */
  const workersReady = async (gateway: LaunchedProcess) => {
    const line = await gateway.waitForLine(/"msg":"gateway workers ready"/);
    const { url, pids } = JSON.parse(line) as { url: string; pids: number[] };
    return { url, pids };
  };
  /** Which worker answered each request: every worker's access-log lines carry its process id. */
  const servedBy = (gateway: LaunchedProcess) =>
    new Set(
      gateway
        .output()
        .split('\n')
        .filter((line) => line.includes('"msg":"access"') && line.includes('"status":200'))
        .map((line) => (JSON.parse(line) as { pid: number }).pid),
    );

  beforeAll(async () => {
    subgraph = new ApolloServer({
      schema: buildSubgraphSchema({
        typeDefs: parse(SDL),
        resolvers: {
          Query: {
            books: () => [BOOK],
            slowBook: () => {
              slowArrived.resolve();
              return slowAnswer.promise;
            },
          },
        },
      }),
    });
    const subgraphUrl = (await startStandaloneServer(subgraph, { listen: { port: 0, host: '127.0.0.1' } })).url;
    scratch = await createTempDirectory('multi-process');
    supergraphPath = join(scratch.path, 'supergraph.graphql');
    await writeFile(supergraphPath, composeSupergraph([{ name: 'library', url: subgraphUrl, sdl: SDL }]));
  });

  afterAll(async () => {
    await subgraph?.stop();
    await scratch?.remove();
  });

  describe('serving', () => {
    let gateway: LaunchedProcess;
    let baseUrl: string;
    let pids: number[];

    beforeAll(async () => {
      gateway = launch({});
      ({ url: baseUrl, pids } = await workersReady(gateway));
    });

    afterAll(async () => {
      await gateway?.stop();
    });

    it('serves requests from both workers, and its /metrics counts those of all of them', async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, () => post(`${baseUrl}/graphql`, '{ books { title } }')));

      expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 20 }, () => 200));
      expect(JSON.parse(answers[0]!.body)).toEqual({ data: { books: [{ title: BOOK.title }] } });
      expect(await operationsServed(baseUrl)).toBe(20);
      expect((await get(`${baseUrl}/metrics`)).body).toContain('gateway_workers{service="gateway"} 2');
      await vi.waitFor(() => expect(servedBy(gateway)).toEqual(new Set(pids)));
    });

    it('answers readiness from whichever worker takes the probe', async () => {
      const probes = await Promise.all(Array.from({ length: 4 }, () => get(`${baseUrl}/health/ready`)));

      expect(probes.map((probe) => probe.status)).toEqual([200, 200, 200, 200]);
    });

    it('replaces a worker that dies, and keeps serving meanwhile; the dead worker’s share leaves the aggregate', async () => {
      const before = await operationsServed(baseUrl);
      const [killed, survivor] = pids as [number, number];
      process.kill(killed, 'SIGKILL');
      await gateway.waitForLine(new RegExp(`"worker":${killed},.*"msg":"gateway worker died; starting another"`));

      const meanwhile = await Promise.all(Array.from({ length: 6 }, () => post(`${baseUrl}/graphql`, '{ books { isbn } }')));
      expect(meanwhile.map((answer) => answer.status)).toEqual(Array.from({ length: 6 }, () => 200));

      const primary = gateway.child.pid!;
      const replacement = await vi.waitFor(
        async () => {
          const [found] = (await childPids(primary)).filter((pid) => pid !== survivor);
          expect(found).toBeDefined();
          return found!;
        },
        { timeout: 30_000, interval: 50 },
      );
      expect(replacement).not.toBe(killed);
      await gateway.waitForLine(new RegExp(`"pid":${replacement},.*"msg":"gateway ready"`));
      const after = await Promise.all(Array.from({ length: 6 }, () => post(`${baseUrl}/graphql`, '{ books { isbn } }')));

      expect(after.map((answer) => answer.status)).toEqual(Array.from({ length: 6 }, () => 200));
      await vi.waitFor(() => expect(servedBy(gateway)).toContain(replacement));
      // The counters of the killed worker died with it: the sum holds only what the living workers served.
      expect(await operationsServed(baseUrl)).toBeLessThan(before + 12);
      expect((await get(`${baseUrl}/metrics`)).body).toContain('gateway_worker_restarts_total{service="gateway"} 1');
      pids = [survivor, replacement];
    }, 60_000);

    it('on SIGTERM, answers the request in flight, then every worker and the primary exit with status 0', async () => {
      slowAnswer = createDeferred();
      slowArrived = createDeferred();
      const inFlight = post(`${baseUrl}/graphql`, '{ slowBook { title } }');
      await slowArrived.promise;

      const exited = gateway.stop('SIGTERM');
      await vi.waitFor(
        async () => {
          const probe = await get(`${baseUrl}/health/ready`).catch(() => ({ status: 0 }));
          expect(probe.status).not.toBe(200);
        },
        { timeout: 10_000, interval: 20 },
      );
      slowAnswer.resolve(BOOK);

      const answer = await inFlight;
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ data: { slowBook: { title: BOOK.title } } });
      expect(await exited).toBe(0);
      expect(pids.filter(alive)).toEqual([]);
    });
  });

  it('exits with a non-zero status when its workers keep dying before they serve', async () => {
    const gateway = launch({ SUPERGRAPH_PATH: join(scratch.path, 'missing.graphql') });
    try {
      const [code] = (await once(gateway.child, 'exit')) as [number | null];
      expect(code).toBe(1);
      expect(gateway.output()).toContain('gateway workers keep dying before they serve; giving up');
    } finally {
      await gateway.stop();
    }
  }, 120_000);
});
