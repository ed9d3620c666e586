import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  acquireProcessLock,
  amqpUrlSchema,
  ConfigError,
  defaultLogFormat,
  describeLockOwner,
  embeddedDatabaseOwner,
  LockHeldError,
  logFormatSchema,
  nodeEnvSchema,
  parseConfig,
  portSchema,
  postgresUrlSchema,
  redisUrlSchema,
  sharedSecretSchema,
  type ProcessLock,
} from '@nexusflow/kit/core';
import { formatBytes, memoryOf } from './process-memory.ts';
import { isReadyAs, portsInUse, waitUntilReadyAs, type NamedPort } from './readiness.ts';
import {
  accessTokenIssuerOf,
  describeService,
  gatewayNameOf,
  gatewayRank,
  graphNames,
  JWKS_PATH,
  localPort,
  subgraphRouteVariable,
  tierRank,
  type GraphName,
} from '@nexusflow/topology';
import { DEFAULT_RESTART_POLICY, SupervisedProcess, type RestartPolicy } from './supervision.ts';
import {
  embeddedHostNodeOptions,
  GATEWAY,
  gatewayPort as graphGatewayPort,
  PRODUCTION_ENVIRONMENT,
  publishedSupergraph,
  readTopology,
  repositoryRoot,
  selectGraphs,
  type SubgraphProcess,
} from './topology.ts';

/**
 * Starts every graph (or those named with --graph): its subgraphs and its gateway. With --production, as docker-compose.yml deploys it: one process per
 * service, each subgraph with its own database on POSTGRES_URL, all sharing REDIS_URL and AMQP_URL, every
 * one with NODE_ENV=production. Without it, everything is embedded (PGlite, in-memory pub/sub, queues and
 * event bus): the subgraphs share one process, so that the in-memory event bus connects them, and one embedded
 * PostgreSQL in DATA_DIR/postgres with a database (schema and role) each; each gateway runs in a process of its own.
 * Once everything is ready it prints the time that took and the memory its processes hold. Either way a process that exits unexpectedly is restarted (scripts/supervision.ts)
 * while the others keep serving, as `restart: unless-stopped` does in docker-compose.yml.
 */
const EMBEDDED_HOST = 'scripts/embedded-host.ts';
/** The one process of the embedded subgraphs, as the launcher names it in its output. */
const EMBEDDED_HOST_NAME = 'subgraphs';

const { values: flags } = parseArgs({
  options: {
    production: { type: 'boolean', default: false },
    'port-offset': { type: 'string', default: '0' },
    /** A graph to start (repeatable); every graph of packages/topology when none is named. */
    graph: { type: 'string', multiple: true },
  },
});

const delayMsSchema = z.coerce.number().int().positive();

const launcherEnvSchema = z
  .object({
    POSTGRES_URL: postgresUrlSchema.optional(),
    REDIS_URL: redisUrlSchema.optional(),
    AMQP_URL: amqpUrlSchema.optional(),
    /** Read by the services themselves; checked here too so that a bad secret stops the launch before anything starts. */
    JWT_SECRET: sharedSecretSchema,
    INTERNAL_SECRET: sharedSecretSchema,
    NODE_ENV: nodeEnvSchema,
    /** Passed to every process; unset: pretty when the launcher's own output is a terminal in development, JSON otherwise. */
    LOG_FORMAT: logFormatSchema.optional(),
    DATA_DIR: z.string().default('.data'),
    /** Put before each subgraph's database name (`nexusflow_auth`); tests use a prefix of their own. */
    DATABASE_NAME_PREFIX: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .default(''),
    PORT_OFFSET: portSchema.optional(),
    READY_TIMEOUT_MS: delayMsSchema.default(60_000),
    /** Wait before restarting a process that exited unexpectedly; doubles with each further restart in a row. */
    RESTART_BASE_DELAY_MS: delayMsSchema.default(DEFAULT_RESTART_POLICY.baseDelayMs),
    /** Longest wait between two restarts of one process. */
    RESTART_MAX_DELAY_MS: delayMsSchema.default(DEFAULT_RESTART_POLICY.maxDelayMs),
    /** A process that stayed up this long counts as healthy again: its next restart waits RESTART_BASE_DELAY_MS. */
    RESTART_RESET_AFTER_MS: delayMsSchema.default(DEFAULT_RESTART_POLICY.resetAfterMs),
  })
  .refine((env) => env.RESTART_MAX_DELAY_MS >= env.RESTART_BASE_DELAY_MS, {
    path: ['RESTART_MAX_DELAY_MS'],
    message: 'must not be below RESTART_BASE_DELAY_MS',
  });

/**
 * What --production needs before it starts anything: real servers, and secrets of its own instead of the public development
 * ones, including every secret a service of the topology requires (e.g. auth's MFA_ENCRYPTION_KEY).
 */
const REQUIRED_IN_PRODUCTION = [
  ...new Set([
    'POSTGRES_URL',
    'REDIS_URL',
    'AMQP_URL',
    'JWT_SECRET',
    'INTERNAL_SECRET',
    ...graphNames.flatMap((graph) => readTopology(graph).flatMap(({ secrets }) => secrets)),
  ]),
];

function readLauncherEnvironment(): z.output<typeof launcherEnvSchema> {
  try {
    if (!flags.production) return parseConfig(launcherEnvSchema);
    // Every child runs with NODE_ENV=production, so the launcher refuses up front what each of them would refuse.
    return parseConfig(launcherEnvSchema, { ...process.env, ...PRODUCTION_ENVIRONMENT }, { requiredInProduction: REQUIRED_IN_PRODUCTION });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    if (flags.production) {
      console.error(
        '--production runs every service with NODE_ENV=production: it needs POSTGRES_URL (a server URL, e.g. postgres://postgres@127.0.0.1:5432/postgres), ' +
          `REDIS_URL, AMQP_URL, and ${REQUIRED_IN_PRODUCTION.slice(3).join(', ')} set to random strings of at least 32 characters (e.g. openssl rand -hex 32).`,
      );
    }
    process.exit(1);
  }
}

const env = readLauncherEnvironment();
const portOffset = env.PORT_OFFSET ?? Number(flags['port-offset']);
let graphs: ReturnType<typeof selectGraphs>;
try {
  graphs = selectGraphs(flags.graph);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
/** Processes are named after their service, and their graph too when more than one graph runs. */
const processName = (graph: string, name: string) => (graphs.length > 1 ? `${graph}/${name}` : name);
/**
 * Where a service or gateway of `graph` listens on this machine: its catalogue port moved by the graph's local offset
 * (the catalogues of NexusFlow and Nexus COS share ports 3001–3005), then by --port-offset. Containers keep the catalogue port.
 */
const machinePort = (graph: GraphName, catalogue: number) => localPort(graph, catalogue) + portOffset;
const gateways = graphs.map((graph) => ({
  graph,
  name: processName(graph, gatewayNameOf(graph)),
  catalogue: graphGatewayPort(graph),
  port: machinePort(graph, graphGatewayPort(graph)),
}));
const gatewayPort = gateways[0]!.port;
/** Given to every process this launch starts, which reports it on its health endpoints: readiness is taken only from them. */
const instance = randomUUID();
// The children write to a pipe, not to the terminal, so they are told what the launcher's own output calls for.
const logFormat = env.LOG_FORMAT ?? defaultLogFormat(env.NODE_ENV);
const restartPolicy: RestartPolicy = {
  baseDelayMs: env.RESTART_BASE_DELAY_MS,
  maxDelayMs: env.RESTART_MAX_DELAY_MS,
  resetAfterMs: env.RESTART_RESET_AFTER_MS,
};

/** Variables that choose real servers; stripped in embedded mode so that nothing is picked up by accident. */
const SERVER_VARIABLES = ['DATABASE_URL', 'REDIS_URL', 'AMQP_URL', 'POSTGRES_URL'];

function baseEnvironment(): NodeJS.ProcessEnv {
  // Colours for pretty logs on the terminal the launcher writes to, unless FORCE_COLOR or NO_COLOR says otherwise.
  const colours: NodeJS.ProcessEnv = logFormat === 'pretty' && process.stdout.isTTY ? { FORCE_COLOR: '1' } : {};
  const inherited: NodeJS.ProcessEnv = { ...colours, ...process.env, LOG_FORMAT: logFormat, NEXUSFLOW_INSTANCE: instance };
  for (const name of SERVER_VARIABLES) delete inherited[name];
  return inherited;
}

function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

const databaseName = (subgraph: SubgraphProcess) => `${env.DATABASE_NAME_PREFIX}${subgraph.database}`;

async function ensureDatabases(serverUrl: string, subgraphs: SubgraphProcess[]): Promise<void> {
  // Loaded only here: the embedded launch, which needs no driver, stays some 16 MB lighter.
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const existing = new Set((await client.query<{ datname: string }>('select datname from pg_database')).rows.map((row) => row.datname));
    for (const subgraph of subgraphs) {
      const database = databaseName(subgraph);
      if (!existing.has(database)) await client.query(`create database "${database}"`);
    }
  } finally {
    await client.end();
  }
}

/** In start order: the subgraphs, then the gateway. */
const processes: SupervisedProcess[] = [];

function supervise(
  name: string,
  /** The entry point, with its own arguments after it. */
  entry: string | readonly string[],
  environment: NodeJS.ProcessEnv,
  readinessUrls: string[],
  nodeOptions: readonly string[] = [],
): SupervisedProcess {
  const supervised = new SupervisedProcess({
    name,
    prefixWidth: processNameWidth,
    args: [...nodeOptions, '--import', 'tsx', ...(typeof entry === 'string' ? [entry] : entry)],
    cwd: repositoryRoot,
    env: environment,
    isReady: async () => (await Promise.all(readinessUrls.map((url) => isReadyAs(url, instance)))).every(Boolean),
    readyTimeoutMs: env.READY_TIMEOUT_MS,
    restart: restartPolicy,
  });
  processes.push(supervised);
  return supervised;
}

/** Held while this launch runs, in embedded mode: one launcher per data folder. */
let dataDirectoryLock: ProcessLock | undefined;
let stopped: Promise<never> | undefined;

/** `announce`: say so when a person asked to stop (Ctrl-C, SIGTERM); a failed launch has said why already. */
function stopAll(exitCode: number, announce: boolean): Promise<never> {
  stopped ??= (async () => {
    if (announce) console.log('Stopping NexusFlow…');
    // Nothing may be restarted while the others stop, whichever exits first.
    for (const supervised of processes) supervised.stopRestarting();
    // The gateway first, so that no request reaches a subgraph that is already draining.
    for (const supervised of [...processes].reverse()) await supervised.stop();
    await dataDirectoryLock?.release();
    if (announce) console.log('Stopped.');
    process.exit(exitCode);
  })();
  return stopped;
}

// Kept for the whole run, not once: Ctrl-C reaches the launcher twice (from the terminal, and forwarded by npm and tsx),
// and a signal arriving with no listener left would kill it halfway through stopping.
process.on('SIGINT', () => void stopAll(0, true));
process.on('SIGTERM', () => void stopAll(0, true));

function refuse(message: string): never {
  console.error(message);
  process.exit(1);
}

const subgraphs = graphs.flatMap((graph) => readTopology(graph));
const processNameWidth = Math.max(
  ...gateways.map(({ name }) => name.length),
  ...(flags.production ? subgraphs.map((subgraph) => processName(subgraph.graph, subgraph.name).length) : [EMBEDDED_HOST_NAME.length]),
);
/** Each graph's embedded data in a folder of its own: two graphs may both have a service of one name. */
const graphDataDir = (graph: string) => join(env.DATA_DIR, graph);
/**
 * The one embedded PostgreSQL of every subgraph the host runs, each subgraph's database a schema of its own there
 * (named as on the real server, `<graph>_<service>`).
 */
const embeddedDatabaseDir = join(env.DATA_DIR, 'postgres');

// Before anything starts, so that a second launch says why at once instead of failing halfway with a port in use, and
// never opens embedded databases that another process is writing (two writers corrupt a PGlite folder for good).
if (!flags.production) {
  try {
    dataDirectoryLock = await acquireProcessLock(join(resolve(env.DATA_DIR), 'launcher.lock'), {
      holder: 'the NexusFlow launcher',
      details: { gatewayPort },
    });
  } catch (error) {
    if (!(error instanceof LockHeldError)) throw error;
    refuse(
      `NexusFlow is already running from ${env.DATA_DIR} (pid ${error.owner.pid}, gateway on :${error.owner.details.gatewayPort ?? '?'}); ` +
        'stop it, or use --port-offset and another DATA_DIR.',
    );
  }
  const owner = await embeddedDatabaseOwner(embeddedDatabaseDir);
  if (owner)
    refuse(`The embedded database ${embeddedDatabaseDir} is open in ${describeLockOwner(owner)}; stop it, or use another DATA_DIR.`);
}
const ports: NamedPort[] = [
  ...subgraphs.map(({ graph, name, port }) => ({ name: processName(graph, name), port: machinePort(graph, port) })),
  ...gateways.map(({ name, port }) => ({ name, port })),
];
const busy = await portsInUse(ports);
if (busy.length > 0) {
  refuse(
    `Already in use on 127.0.0.1: ${busy.map(({ name, port }) => `port ${port} (${name})`).join(', ')}. ` +
      'Another NexusFlow (with another DATA_DIR?) or another program listens there; stop it, or use --port-offset <n>.',
  );
}

try {
  if (flags.production) await ensureDatabases(env.POSTGRES_URL!, subgraphs);
  const subgraphUrls: Record<string, Record<string, string>> = Object.fromEntries(graphs.map((graph) => [graph, {}]));
  const environments = subgraphs.map((subgraph) => {
    const port = machinePort(subgraph.graph, subgraph.port);
    // PORT_OFFSET: for what a service derives from other services' ports (the scheduler's `{localPort}` targets).
    const environment: Record<string, string> = {
      PORT: String(port),
      PORT_OFFSET: String(portOffset),
      DATA_DIR: graphDataDir(subgraph.graph),
    };
    for (const [variable, target] of Object.entries(subgraph.links)) {
      const linked = subgraphs.find((candidate) => candidate.graph === subgraph.graph && candidate.name === target);
      if (linked) environment[variable] = `http://127.0.0.1:${machinePort(linked.graph, linked.port)}/graphql`;
    }
    if (flags.production) {
      environment.DATABASE_URL = databaseUrl(env.POSTGRES_URL!, databaseName(subgraph));
      environment.REDIS_URL = env.REDIS_URL!;
      environment.AMQP_URL = env.AMQP_URL!;
    }
    const url = `http://127.0.0.1:${port}`;
    subgraphUrls[subgraph.graph]![subgraphRouteVariable(subgraph.name)] = `${url}/graphql`;
    return { subgraph, url, environment, rank: tierRank(describeService(subgraph.graph, subgraph.name).tier) };
  });
  // The deployment order (packages/topology): each tier once the one before is ready; stable within a tier.
  environments.sort((a, b) => a.rank - b.rank);
  const modeEnvironment = flags.production ? PRODUCTION_ENVIRONMENT : {};
  /** Each gateway's rows of the table, shown in the order of `gateways` however they finish starting. */
  const gatewayRowsOf = new Map<GraphName, [string, string][]>();
  const startGatewayOf = async (gateway: (typeof gateways)[number]) => {
    const gatewayEnvironment: NodeJS.ProcessEnv = {
      ...baseEnvironment(),
      ...subgraphUrls[gateway.graph],
      ...modeEnvironment,
      PORT: String(gateway.port),
    };
    const issuer = accessTokenIssuerOf(gateway.graph);
    // The gateway's own default names the issuer's port without --port-offset.
    if (issuer)
      gatewayEnvironment.ACCESS_TOKEN_JWKS_URL = `http://127.0.0.1:${machinePort(gateway.graph, issuer.service.port)}${JWKS_PATH}`;
    if (flags.production) {
      gatewayEnvironment.REDIS_URL = env.REDIS_URL;
      // Its audit records of mutations and sensitive reads go to the audit subgraph over the bus; without AMQP_URL
      // (embedded) it calls the audit subgraph at its SUBGRAPH_AUDIT_URL with them instead.
      gatewayEnvironment.AMQP_URL = env.AMQP_URL;
      // Production serves what the registry published, and picks up the next publication by itself.
      gatewayEnvironment.SUPERGRAPH_PATH ??= publishedSupergraph(gateway.graph);
      gatewayEnvironment.SUPERGRAPH_POLL_INTERVAL_MS ??= '5000';
    }
    const gatewayUrl = `http://127.0.0.1:${gateway.port}`;
    const entry = [GATEWAY.entry, '--graph', gateway.graph];
    await supervise(gateway.name, entry, gatewayEnvironment, [gatewayUrl], GATEWAY.nodeOptions).start();
    const heading = graphs.length > 1 ? `${gateway.graph} ` : '';
    gatewayRowsOf.set(gateway.graph, [
      [`${heading}GraphQL`, `${gatewayUrl}/graphql`],
      [`${heading}WebSocket`, `${gatewayUrl.replace('http://', 'ws://')}/graphql (subscriptions, graphql-ws)`],
      [`${heading}Explorer`, `${gatewayUrl}/`],
      [`${heading}Health`, `${gatewayUrl}/health/ready`],
      [`${heading}Metrics`, `${gatewayUrl}/metrics`],
    ]);
  };
  if (flags.production) {
    // Tier by tier, a gateway at its own tier: each process's start() resolves once it answers /health/ready. Within a
    // tier a service starts once the services of its tier that it calls are ready (token-mgr calls key-service as it
    // starts), a cycle of calls broken where it closes, as the embedded host does.
    const started = new Map<(typeof environments)[number], Promise<void>>();
    const startInOrder = (entry: (typeof environments)[number], waitingOn: ReadonlySet<(typeof environments)[number]>): Promise<void> => {
      const existing = started.get(entry);
      if (existing) return existing;
      const callees = environments.filter(
        (candidate) =>
          candidate.rank === entry.rank &&
          candidate.subgraph.graph === entry.subgraph.graph &&
          Object.values(entry.subgraph.links).includes(candidate.subgraph.name) &&
          !waitingOn.has(candidate),
      );
      const start = (async () => {
        await Promise.all(callees.map((callee) => startInOrder(callee, new Set([...waitingOn, entry]))));
        await supervise(
          processName(entry.subgraph.graph, entry.subgraph.name),
          entry.subgraph.entry,
          { ...baseEnvironment(), ...entry.environment, ...modeEnvironment },
          [entry.url],
          entry.subgraph.nodeOptions,
        ).start();
      })();
      started.set(entry, start);
      return start;
    };
    const lastRank = Math.max(...environments.map(({ rank }) => rank), ...gateways.map(({ graph }) => gatewayRank(graph)));
    for (let rank = 0; rank <= lastRank; rank += 1) {
      await Promise.all([
        ...environments.filter((candidate) => candidate.rank === rank).map((entry) => startInOrder(entry, new Set())),
        ...gateways.filter(({ graph }) => gatewayRank(graph) === rank).map(startGatewayOf),
      ]);
    }
  } else {
    // The in-memory queue and event bus connect only services of one process; see scripts/embedded-host.ts.
    const hostEnvironment = {
      ...baseEnvironment(),
      EMBEDDED_SUBGRAPHS: JSON.stringify(
        environments.map(({ subgraph, environment, rank }) => ({
          graph: subgraph.graph,
          name: subgraph.name,
          database: subgraph.database,
          tier: rank,
          calls: Object.values(subgraph.links),
          env: environment,
        })),
      ),
      EMBEDDED_DATABASE_DIR: embeddedDatabaseDir,
    };
    const hostReady = supervise(
      EMBEDDED_HOST_NAME,
      EMBEDDED_HOST,
      hostEnvironment,
      environments.map(({ url }) => url),
      embeddedHostNodeOptions(subgraphs),
    ).start();
    // The host starts its subgraphs tier by tier in the deployment order, each tier once the one before has started.
    // Each gateway takes its own place in that order, as in production: it starts once its graph's subgraphs of the
    // tiers before its own are ready, while the host goes on with the later ones.
    await Promise.all([
      hostReady,
      ...gateways.map(async (gateway) => {
        const before = environments.filter(({ subgraph, rank }) => subgraph.graph === gateway.graph && rank < gatewayRank(gateway.graph));
        await waitUntilReadyAs(
          before.map(({ url }) => url),
          instance,
          { timeoutMs: env.READY_TIMEOUT_MS, abandonedWhen: hostReady },
        );
        await startGatewayOf(gateway);
      }),
    ]);
  }
  // Since this process started, and for every process of the launch as it is now: the budgets README states.
  const readyAfterSeconds = (performance.now() / 1000).toFixed(1);
  const memory = await memoryOf([{ name: 'launcher', pid: process.pid }, ...processes.map(({ name, pid }) => ({ name, pid }))]);
  const gatewayRows = gateways.flatMap(({ graph }) => gatewayRowsOf.get(graph) ?? []);
  // Where a graph runs off its catalogue's ports, each service's catalogue port is shown: the one it keeps in its container.
  const catalogueNote = (graph: GraphName, catalogue: number) =>
    localPort(graph, catalogue) === catalogue ? '' : `  (catalogue port ${catalogue})`;
  const subgraphRows = subgraphs.map(({ graph, name, port }): [string, string] => [
    processName(graph, name),
    `http://127.0.0.1:${machinePort(graph, port)}/graphql${catalogueNote(graph, port)}`,
  ]);
  for (const gateway of gateways) {
    if (gatewayNameOf(gateway.graph) !== GATEWAY.name)
      subgraphRows.unshift([
        processName(gateway.graph, gatewayNameOf(gateway.graph)),
        `http://127.0.0.1:${gateway.port}/graphql (the ${gateway.graph} gateway)${catalogueNote(gateway.graph, gateway.catalogue)}`,
      ]);
  }
  const labelWidth = Math.max(...[...gatewayRows, ...subgraphRows].map(([label]) => label.length));
  const table = (rows: [string, string][]) => rows.map(([label, value]) => `  ${label.padEnd(labelWidth)}  ${value}`);
  console.log(
    [
      '',
      `NexusFlow Supergraph is up (${flags.production ? 'PostgreSQL, Redis and RabbitMQ' : `embedded databases in ${env.DATA_DIR}, in-process pub/sub and queues`})`,
      `Ready in ${readyAfterSeconds} s; memory (RSS) ${formatBytes(memory.total)} in total: ${[...memory.each]
        .sort((a, b) => b.bytes - a.bytes)
        .map(({ name, bytes }) => `${name} ${formatBytes(bytes)}`)
        .join(', ')}`,
      ...table(gatewayRows),
      'Subgraphs (direct calls need the identity headers the gateway signs):',
      ...table(subgraphRows),
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await stopAll(1, false);
}
