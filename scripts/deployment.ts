import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Document, isScalar, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import {
  accessTokenIssuerOf,
  describeService,
  gatewayNameOf,
  gatewayRank,
  graphNames,
  JWKS_PATH,
  servicesOf,
  subgraphRouteVariable,
  tierRank,
  type GraphName,
} from '@nexusflow/topology';
import {
  GATEWAY,
  gatewayPort,
  PRODUCTION_ENVIRONMENT,
  publishedSupergraph,
  readTopology,
  repositoryRoot,
  schemaDirectory,
} from './topology.ts';
import { kubernetesFiles, kubernetesGraphs } from './kubernetes.ts';

/**
 * docker-compose.yml and docker/postgres/init-databases.sql, derived from packages/topology as the launcher and the
 * supergraph configs are: `npm run deployment` writes them, `npm run deployment -- --check` fails naming stale ones.
 */
export interface DeploymentFiles {
  compose: string;
  databases: string;
}

export const deploymentFilePaths: DeploymentFiles = {
  compose: `${repositoryRoot}docker-compose.yml`,
  databases: `${repositoryRoot}docker/postgres/init-databases.sql`,
};

/** Compose names services `<graph>-<service>`, so that two graphs may both have a service of one name. */
export const composeServiceName = (graph: GraphName, service: string) => `${graph}-${service}`;
export const composeGatewayName = (graph: GraphName) => composeServiceName(graph, gatewayNameOf(graph));

/**
 * What a service of `graph` waits for in the deployment order (packages/topology): every service of an earlier tier,
 * and the graph's gateway when its tier is earlier (Nexus COS: core → backend-api with the platform → business).
 */
export function earlierInDeploymentOrder(graph: GraphName, rank: number): string[] {
  const services = servicesOf(graph)
    .filter(({ tier }) => tierRank(tier) < rank)
    .map(({ name }) => composeServiceName(graph, name));
  return gatewayRank(graph) < rank ? [...services, composeGatewayName(graph)] : services;
}

export { subgraphRouteVariable } from '@nexusflow/topology';

/** Where a subgraph listens inside the compose network. */
export const composeServiceUrl = (graph: GraphName, service: string, port: number) =>
  `http://${composeServiceName(graph, service)}:${port}/graphql`;

export const INFRASTRUCTURE = ['postgres', 'redis', 'rabbitmq'] as const;
const POSTGRES_URL = 'postgres://postgres:postgres@postgres:5432';
const REDIS_URL = 'redis://redis:6379';
const AMQP_URL = 'amqp://guest:guest@rabbitmq:5672';
/** The Dockerfile's WORKDIR, where the repository is inside the image. */
const CONTAINER_ROOT = '/app';
/** Not published: Prometheus scrapes it inside the compose network. */
const GATEWAY_ADMIN_PORT = 9000;

/** Compose refuses to start without the variable, saying why, so that no deployment runs on a default secret. */
const requiredSecret = (name: string) => `\${${name}:?set ${name} to a random string of at least 32 characters}`;
/** Compose passes the variable through from where it runs, empty when unset there. */
const optionalVariable = (name: string) => `\${${name}:-}`;

/**
 * Tracing, the same for every service and gateway: off while the endpoint is empty; set, traces go over OTLP/HTTP to it
 * (the seed's Datadog agent accepts OTLP).
 */
const TRACING_VARIABLES = Object.fromEntries(
  ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG'].map((name) => [name, optionalVariable(name)]),
);

function quoted(value: string | number): Scalar {
  const scalar = new Scalar(String(value));
  scalar.type = Scalar.QUOTE_DOUBLE;
  return scalar;
}

/** A list on one line, as commands and healthcheck tests read best. */
function inline(items: readonly string[]): YAMLSeq {
  const seq = new YAMLSeq();
  seq.flow = true;
  seq.items = items.map(quoted);
  return seq;
}

/** Puts `comment` on the line(s) above `key` of `map`, a blank line too when `spaced`. */
function annotate(map: YAMLMap, key: string, comment: string | undefined, spaced = false): void {
  const pair = map.items.find((item) => isScalar(item.key) && item.key.value === key);
  if (!pair || !isScalar(pair.key)) throw new Error(`No "${key}" to annotate`);
  if (comment !== undefined) pair.key.commentBefore = comment.replace(/^/gm, ' ');
  pair.key.spaceBefore = spaced;
}

function mergedFrom(doc: Document, anchored: YAMLMap, entries: Record<string, unknown>): YAMLMap {
  const map = doc.createNode(entries) as YAMLMap;
  map.items.unshift(new Pair(new Scalar('<<'), doc.createAlias(anchored)));
  return map;
}

/** Started once each of `services` is healthy, not merely started. */
function dependsOn(services: readonly string[]): Record<string, { condition: string }> {
  return Object.fromEntries(services.map((name) => [name, { condition: 'service_healthy' }]));
}

function applicationTemplate(doc: Document): YAMLMap {
  const app = doc.createNode({
    build: '.',
    image: 'nexusflow-supergraph',
    restart: 'unless-stopped',
    stop_grace_period: '20s',
    healthcheck: {
      test: inline([
        'CMD',
        'node',
        '-e',
        "fetch('http://127.0.0.1:' + process.env.PORT + '/health/ready').then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1))",
      ]),
      interval: '10s',
      timeout: '5s',
      retries: 5,
      start_period: '30s',
    },
  }) as YAMLMap;
  app.anchor = 'app';
  annotate(
    app,
    'stop_grace_period',
    'Longer than SHUTDOWN_TIMEOUT_MS (10 s) so that requests in flight drain before Docker kills the process.',
  );
  annotate(
    app.get('healthcheck') as YAMLMap,
    'test',
    "Alpine Node images have no curl; readiness also covers the service's own dependencies.",
  );
  return app;
}

function subgraphEnvironmentTemplate(doc: Document): YAMLMap {
  const environment = doc.createNode({
    ...PRODUCTION_ENVIRONMENT,
    HOST: quoted('0.0.0.0'),
    REDIS_URL,
    INTERNAL_SECRET: requiredSecret('INTERNAL_SECRET'),
    ...TRACING_VARIABLES,
  }) as YAMLMap;
  annotate(
    environment,
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'Traces go over OTLP/HTTP to this collector when set (a Datadog agent accepts OTLP).',
  );
  environment.anchor = 'subgraph-environment';
  return environment;
}

function infrastructure(doc: Document): Record<(typeof INFRASTRUCTURE)[number], YAMLMap> {
  const postgres = doc.createNode({
    // PostgreSQL 16 with pgvector: the AI service ranks document chunks with it (its migration creates the extension).
    image: 'pgvector/pgvector:pg16',
    restart: 'unless-stopped',
    environment: { POSTGRES_USER: 'postgres', POSTGRES_PASSWORD: 'postgres' },
    volumes: [
      'postgres-data:/var/lib/postgresql/data',
      `./${relative(repositoryRoot, deploymentFilePaths.databases)}:/docker-entrypoint-initdb.d/init-databases.sql:ro`,
    ],
    healthcheck: {
      test: inline(['CMD', 'pg_isready', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres']),
      interval: '5s',
      timeout: '5s',
      retries: 10,
    },
  }) as YAMLMap;
  annotate(
    postgres.get('healthcheck') as YAMLMap,
    'test',
    "Over TCP: while the init scripts run, the image's temporary server listens on the socket only.",
  );
  const redis = doc.createNode({
    image: 'redis:7-alpine',
    restart: 'unless-stopped',
    healthcheck: { test: inline(['CMD-SHELL', 'redis-cli ping | grep -q PONG']), interval: '5s', timeout: '5s', retries: 10 },
  }) as YAMLMap;
  const rabbitmq = doc.createNode({
    image: 'rabbitmq:3-management-alpine',
    restart: 'unless-stopped',
    healthcheck: {
      test: inline(['CMD', 'rabbitmq-diagnostics', '-q', 'ping']),
      interval: '10s',
      timeout: '10s',
      retries: 10,
      start_period: '30s',
    },
  }) as YAMLMap;
  return { postgres, redis, rabbitmq };
}

function subgraphService(doc: Document, graph: GraphName, name: string, templates: { app: YAMLMap; environment: YAMLMap }): YAMLMap {
  const { entry, nodeOptions } = readTopology(graph).find((process) => process.name === name)!;
  const service = describeService(graph, name);
  const linked = Object.fromEntries(
    Object.entries(service.links).map(([variable, called]) => [
      variable,
      composeServiceUrl(graph, called, describeService(graph, called).port),
    ]),
  );
  const environment = mergedFrom(doc, templates.environment, {
    PORT: quoted(service.port),
    DATABASE_URL: `${POSTGRES_URL}/${service.database}`,
    ...(service.usesRabbitMq ? { AMQP_URL } : {}),
    ...Object.fromEntries(service.secrets.map((secret) => [secret, requiredSecret(secret)])),
    ...linked,
    ...Object.fromEntries(service.optionalVariables.map((variable) => [variable, optionalVariable(variable)])),
  });
  for (const [variable, note] of Object.entries(service.notes)) {
    if (!environment.has(variable)) throw new Error(`packages/topology: ${graph}/${name} has a note on ${variable}, which it is not given`);
    annotate(environment, variable, note);
  }
  // Compose refuses a cycle: of two services that call each other, the one listed first in the topology starts without
  // waiting for the other, and must retry its calls (auth's emails to notifications do).
  const order = servicesOf(graph).map((candidate) => candidate.name);
  const called = Object.values(service.links)
    .filter(
      (target) => !(Object.values(describeService(graph, target).links).includes(name) && order.indexOf(target) > order.indexOf(name)),
    )
    .map((target) => composeServiceName(graph, target));
  const routes = Object.entries(service.publicRoutes);
  const definition = mergedFrom(doc, templates.app, {
    command: inline([...nodeOptions, entry]),
    environment,
    ...(routes.length > 0 ? { ports: [quoted(`${service.port}:${service.port}`)] } : {}),
    depends_on: dependsOn([
      ...new Set([
        'postgres',
        'redis',
        ...(service.usesRabbitMq ? ['rabbitmq'] : []),
        ...called,
        ...earlierInDeploymentOrder(graph, tierRank(service.tier)),
      ]),
    ]),
  });
  if (routes.length > 0) {
    const reached = routes.map(([route, purpose]) => `${route} (${purpose})`).join('; ');
    annotate(definition, 'ports', `Published for what callers outside reach directly, not through the gateway: ${reached}.`);
  }
  return definition;
}

function gatewayService(doc: Document, graph: GraphName, app: YAMLMap): YAMLMap {
  const subgraphs = servicesOf(graph);
  const port = gatewayPort(graph);
  const usesBus = subgraphs.some(({ usesRabbitMq }) => usesRabbitMq);
  const published = relative(repositoryRoot, publishedSupergraph(graph));
  const registry = relative(repositoryRoot, `${schemaDirectory(graph)}registry`);
  const issuer = accessTokenIssuerOf(graph);
  const accessTokens = issuer
    ? { ACCESS_TOKEN_JWKS_URL: `http://${composeServiceName(graph, issuer.service.name)}:${issuer.service.port}${JWKS_PATH}` }
    : { JWT_SECRET: requiredSecret('JWT_SECRET') };
  const environment = doc.createNode({
    ...PRODUCTION_ENVIRONMENT,
    HOST: quoted('0.0.0.0'),
    PORT: quoted(port),
    ADMIN_HOST: quoted('0.0.0.0'),
    ADMIN_PORT: quoted(GATEWAY_ADMIN_PORT),
    REDIS_URL,
    // Its audit records of mutations and sensitive reads go out on the bus the subgraphs use.
    ...(usesBus ? { AMQP_URL } : {}),
    INTERNAL_SECRET: requiredSecret('INTERNAL_SECRET'),
    ...accessTokens,
    ...Object.fromEntries(subgraphs.map(({ name, port }) => [subgraphRouteVariable(name), composeServiceUrl(graph, name, port)])),
    SUPERGRAPH_PATH: `${CONTAINER_ROOT}/${published}`,
    SUPERGRAPH_POLL_INTERVAL_MS: quoted(5000),
    ...TRACING_VARIABLES,
  }) as YAMLMap;
  annotate(environment, 'ADMIN_HOST', 'Prometheus scrapes /metrics here, inside the compose network; the port is not published.');
  if (issuer)
    annotate(
      environment,
      'ACCESS_TOKEN_JWKS_URL',
      `Access tokens are verified with the keys ${issuer.service.name} publishes (and its revocation list beside them): no shared secret.`,
    );
  annotate(
    environment,
    'SUPERGRAPH_PATH',
    'What `npm run schema:publish` last published; a new publication is served within 5 s, no restart.',
  );
  const gateway = mergedFrom(doc, app, {
    command: inline([...GATEWAY.nodeOptions, GATEWAY.entry, '--graph', graph]),
    environment,
    volumes: [`./${registry}:${CONTAINER_ROOT}/${registry}:ro`],
    ports: [quoted(`${port}:${port}`)],
    depends_on: dependsOn(['redis', ...(usesBus ? ['rabbitmq'] : []), ...earlierInDeploymentOrder(graph, gatewayRank(graph))]),
  });
  annotate(gateway, 'command', "The gateway's heap budget (scripts/topology.ts explains it), given to node before the entry point.");
  return gateway;
}

/** Every secret some service requires, for the header's example command. */
function requiredSecrets(): string[] {
  const secrets = graphNames.flatMap((graph) => servicesOf(graph).flatMap(({ secrets }) => secrets));
  return [...new Set(['INTERNAL_SECRET', 'JWT_SECRET', ...secrets])];
}

function header(): string {
  const gateways = graphNames.map((graph) => `${graph} on http://localhost:${gatewayPort(graph)}/graphql`).join(', ');
  const secrets = requiredSecrets();
  return [
    "Every graph of packages/topology on one machine: PostgreSQL, Redis and RabbitMQ, then each graph's subgraphs and",
    `gateway (${gateways}).`,
    '',
    `  ${secrets.map((secret) => `${secret}=$(openssl rand -hex 32)`).join(' ')} docker compose up --build`,
    '',
    `(or put ${secrets.length === 2 ? 'both' : 'them'} in .env). Generated by \`npm run deployment\` from packages/topology, with`,
    "docker/postgres/init-databases.sql; not edited by hand. A subgraph's service is <graph>-<service> and a graph's",
    `gateway <graph>-<its name> (${graphNames.map(composeGatewayName).join(', ')}), so that two graphs may both have a service of`,
    'one name. Each service starts once those of the tiers before it in the deployment order are healthy.',
  ].join('\n');
}

export function composeFile(): string {
  const doc = new Document();
  const app = applicationTemplate(doc);
  const environment = subgraphEnvironmentTemplate(doc);
  const services = new YAMLMap<Scalar<string>, YAMLMap>();
  const add = (name: string, service: YAMLMap, comment?: string) => {
    if (services.has(name)) throw new Error(`docker-compose.yml would have two services named "${name}"`);
    services.items.push(new Pair(new Scalar(name), service));
    annotate(services, name, comment, services.items.length > 1);
  };
  const { postgres, redis, rabbitmq } = infrastructure(doc);
  add('postgres', postgres);
  add('redis', redis);
  add('rabbitmq', rabbitmq, "The event bus (topic exchange nexusflow.events) and the workflow engine's step queue.");
  let heapNote: string | undefined =
    "Every subgraph's heap budget (SUBGRAPH_HEAP_BUDGET_MB in scripts/topology.ts), given to node before the entry point.";
  for (const graph of graphNames) {
    for (const { name } of servicesOf(graph)) {
      const service = subgraphService(doc, graph, name, { app, environment });
      annotate(service, 'command', heapNote);
      heapNote = undefined;
      add(composeServiceName(graph, name), service);
    }
    add(composeGatewayName(graph), gatewayService(doc, graph, app));
  }
  const root = doc.createNode({
    name: 'nexusflow',
    'x-app': app,
    'x-subgraph-environment': environment,
    services,
    volumes: { 'postgres-data': null },
  }) as YAMLMap;
  annotate(root, 'name', header());
  for (const key of ['x-app', 'x-subgraph-environment', 'services', 'volumes']) annotate(root, key, undefined, true);
  doc.contents = root;
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false, nullStr: '' });
}

/** Database names go into SQL unquoted: the topology's service and graph names keep them to these characters. */
const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

export function databasesFile(): string {
  const databases = graphNames.flatMap((graph) => servicesOf(graph).map(({ database }) => database));
  for (const database of databases) if (!SQL_IDENTIFIER.test(database)) throw new Error(`"${database}" is not a plain SQL identifier`);
  return [
    '-- One database per subgraph on the shared server, named <graph>_<service>: each subgraph owns its tables and',
    '-- migrations. Generated by `npm run deployment` from packages/topology; not edited by hand. The postgres image',
    '-- runs this file only when it initialises an empty volume; \\gexec makes it idempotent, so after adding a',
    '-- subgraph it can be applied to an existing one:',
    '--   docker compose exec postgres psql -U postgres -f /docker-entrypoint-initdb.d/init-databases.sql',
    ...databases.flatMap((database) => [
      `SELECT 'CREATE DATABASE ${database}'`,
      `WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${database}')\\gexec`,
    ]),
    '',
  ].join('\n');
}

export function deploymentFiles(): DeploymentFiles {
  return { compose: composeFile(), databases: databasesFile() };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
  const fresh = deploymentFiles();
  const stale: string[] = [];
  for (const key of Object.keys(fresh) as (keyof DeploymentFiles)[]) {
    const path = deploymentFilePaths[key];
    const committed = await readFile(path, 'utf8').catch(() => undefined);
    if (committed === fresh[key]) continue;
    stale.push(relative(repositoryRoot, path));
    if (!values.check) await writeFile(path, fresh[key]);
  }
  const manifests = kubernetesFiles();
  for (const [path, content] of manifests) {
    const committed = await readFile(`${repositoryRoot}${path}`, 'utf8').catch(() => undefined);
    if (committed === content) continue;
    stale.push(path);
    if (values.check) continue;
    await mkdir(dirname(`${repositoryRoot}${path}`), { recursive: true });
    await writeFile(`${repositoryRoot}${path}`, content);
  }
  // A manifest of a service that left the topology is stale too.
  for (const { graph } of kubernetesGraphs()) {
    const directory = `deploy/kubernetes/${graph}/`;
    for (const file of await readdir(`${repositoryRoot}${directory}`).catch(() => [])) {
      if (manifests.has(`${directory}${file}`)) continue;
      stale.push(`${directory}${file}`);
      if (!values.check) await rm(`${repositoryRoot}${directory}${file}`);
    }
  }
  if (values.check && stale.length > 0) {
    console.error(`Stale, run \`npm run deployment\`: ${stale.join(', ')}`);
    process.exit(1);
  }
  console.log(
    stale.length === 0 ? 'docker-compose.yml, init-databases.sql and deploy/kubernetes are up to date' : `Wrote ${stale.join(', ')}`,
  );
}
