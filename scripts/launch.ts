import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { z } from 'zod';
import { amqpUrlSchema, parseConfig, portSchema, postgresUrlSchema, redisUrlSchema } from '@nexusflow/kit';
import { GATEWAY, PUBLISHED_SUPERGRAPH, readTopology, repositoryRoot, type SubgraphProcess } from './topology.ts';

/**
 * Starts the whole supergraph. With --production, as docker-compose.yml deploys it: one process per
 * service, each subgraph with its own database on POSTGRES_URL, all sharing REDIS_URL and AMQP_URL.
 * Without it, everything is embedded (PGlite, in-memory pub/sub, queues and event bus): the subgraphs
 * share one process, so that the in-memory event bus connects them, and the gateway runs in another.
 */
const EMBEDDED_HOST = 'scripts/embedded-host.ts';

const { values: flags } = parseArgs({
  options: {
    production: { type: 'boolean', default: false },
    'port-offset': { type: 'string', default: '0' },
  },
});

const launcherEnvSchema = z.object({
  POSTGRES_URL: postgresUrlSchema.optional(),
  REDIS_URL: redisUrlSchema.optional(),
  AMQP_URL: amqpUrlSchema.optional(),
  DATA_DIR: z.string().default('.data'),
  /** Each subgraph's database is named <prefix><subgraph>; tests use a prefix of their own. */
  DATABASE_NAME_PREFIX: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('nexusflow_'),
  PORT_OFFSET: portSchema.optional(),
  READY_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
});

const env = parseConfig(launcherEnvSchema);
const portOffset = env.PORT_OFFSET ?? Number(flags['port-offset']);
if (flags.production && (!env.POSTGRES_URL || !env.REDIS_URL || !env.AMQP_URL)) {
  console.error('--production needs POSTGRES_URL (a server URL, e.g. postgres://postgres@127.0.0.1:5432/postgres), REDIS_URL and AMQP_URL');
  process.exit(1);
}

/** Variables that choose real servers; stripped in embedded mode so that nothing is picked up by accident. */
const SERVER_VARIABLES = ['DATABASE_URL', 'REDIS_URL', 'AMQP_URL', 'POSTGRES_URL'];

function baseEnvironment(): NodeJS.ProcessEnv {
  const inherited = { ...process.env };
  for (const name of SERVER_VARIABLES) delete inherited[name];
  return inherited;
}

function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

const databaseName = (subgraph: SubgraphProcess) => `${env.DATABASE_NAME_PREFIX}${subgraph.name}`;

async function ensureDatabases(serverUrl: string, subgraphs: SubgraphProcess[]): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const existing = new Set(
      (await client.query<{ datname: string }>('select datname from pg_database')).rows.map((row) => row.datname),
    );
    for (const subgraph of subgraphs) {
      const database = databaseName(subgraph);
      if (!existing.has(database)) await client.query(`create database "${database}"`);
    }
  } finally {
    await client.end();
  }
}

const children: { name: string; process: ChildProcess }[] = [];
let stopping = false;

function start(name: string, entry: string, environment: NodeJS.ProcessEnv, nodeOptions: readonly string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeOptions, '--import', 'tsx', entry], {
    cwd: repositoryRoot,
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = `${name.padEnd(8)}| `;
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(prefix + line + '\n');
    });
  }
  child.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`${name} exited unexpectedly (${signal ?? `code ${code}`}); stopping everything`);
    void stopAll(1);
  });
  children.push({ name, process: child });
  return child;
}

async function waitUntilReady(name: string, url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + env.READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited before it was ready`);
    try {
      const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${name} was not ready within ${env.READY_TIMEOUT_MS} ms`);
}

async function stopAll(exitCode: number): Promise<never> {
  stopping = true;
  // The gateway first, so that no request reaches a subgraph that is already draining.
  for (const { process: child } of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  process.exit(exitCode);
}

process.once('SIGINT', () => void stopAll(0));
process.once('SIGTERM', () => void stopAll(0));

const subgraphs = await readTopology();
try {
  if (flags.production) await ensureDatabases(env.POSTGRES_URL!, subgraphs);
  const subgraphUrls: Record<string, string> = {};
  const environments = subgraphs.map((subgraph) => {
    const port = subgraph.port + portOffset;
    const environment: Record<string, string> = { PORT: String(port), DATA_DIR: env.DATA_DIR };
    for (const [variable, target] of Object.entries(subgraph.links)) {
      const linked = subgraphs.find((candidate) => candidate.name === target);
      if (linked) environment[variable] = `http://127.0.0.1:${linked.port + portOffset}/graphql`;
    }
    if (flags.production) {
      environment.DATABASE_URL = databaseUrl(env.POSTGRES_URL!, databaseName(subgraph));
      environment.REDIS_URL = env.REDIS_URL!;
      environment.AMQP_URL = env.AMQP_URL!;
    }
    const url = `http://127.0.0.1:${port}`;
    subgraphUrls[`SUBGRAPH_${subgraph.name.toUpperCase()}_URL`] = `${url}/graphql`;
    return { subgraph, url, environment };
  });
  if (flags.production) {
    await Promise.all(
      environments.map(({ subgraph, url, environment }) =>
        waitUntilReady(subgraph.name, url, start(subgraph.name, subgraph.entry, { ...baseEnvironment(), ...environment })),
      ),
    );
  } else {
    // The in-memory queue and event bus connect only services of one process; see scripts/embedded-host.ts.
    const host = start('subgraphs', EMBEDDED_HOST, {
      ...baseEnvironment(),
      EMBEDDED_SUBGRAPHS: JSON.stringify(environments.map(({ subgraph, environment }) => ({ name: subgraph.name, env: environment }))),
    });
    await Promise.all(environments.map(({ subgraph, url }) => waitUntilReady(subgraph.name, url, host)));
  }
  const gatewayPort = GATEWAY.port + portOffset;
  const gatewayEnvironment: NodeJS.ProcessEnv = { ...baseEnvironment(), ...subgraphUrls, PORT: String(gatewayPort) };
  if (flags.production) {
    gatewayEnvironment.REDIS_URL = env.REDIS_URL;
    // Production serves what the registry published, and picks up the next publication by itself.
    gatewayEnvironment.SUPERGRAPH_PATH ??= PUBLISHED_SUPERGRAPH;
    gatewayEnvironment.SUPERGRAPH_POLL_INTERVAL_MS ??= '5000';
  }
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  await waitUntilReady(GATEWAY.name, gatewayUrl, start(GATEWAY.name, GATEWAY.entry, gatewayEnvironment, GATEWAY.nodeOptions));
  console.log(
    [
      '',
      `NexusFlow Supergraph is up (${flags.production ? 'PostgreSQL, Redis and RabbitMQ' : 'embedded databases, in-process pub/sub and queues'})`,
      `  GraphQL     ${gatewayUrl}/graphql`,
      `  WebSocket   ${gatewayUrl.replace('http://', 'ws://')}/graphql (subscriptions, graphql-ws)`,
      `  Explorer    ${gatewayUrl}/`,
      `  Health      ${gatewayUrl}/health/ready`,
      `  Metrics     ${gatewayUrl}/metrics`,
      ...subgraphs.map((s) => `  ${s.name.padEnd(11)} http://127.0.0.1:${s.port + portOffset}/graphql (direct calls need the gateway's identity headers)`),
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await stopAll(1);
}
