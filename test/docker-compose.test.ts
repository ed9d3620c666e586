import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  accessTokenIssuerOf,
  describeService,
  gatewayRank,
  graphNames,
  servicesOf,
  tierRank,
  topology,
  type GraphName,
  type GraphTopology,
} from '@nexusflow/topology';
import { GATEWAY_VARIABLES, loadGatewayConfig, subgraphUrlKey } from '../gateway/src/config.ts';
import { subgraphEnv, type SubgraphConfig } from '../packages/kit/src/platform/config.ts';
import {
  composeGatewayName,
  composeServiceName,
  composeServiceUrl,
  deploymentFilePaths,
  INFRASTRUCTURE,
  subgraphRouteVariable,
} from '../scripts/deployment.ts';
import {
  GATEWAY,
  gatewayPort,
  PRODUCTION_ENVIRONMENT,
  readTopology,
  repositoryRoot,
  SUBGRAPH_HEAP_BUDGET_MB,
} from '../scripts/topology.ts';

type EnvironmentValue = string | number | boolean | null;

interface ComposeService {
  build?: unknown;
  restart?: string;
  image?: string;
  command?: string[];
  environment?: Record<string, EnvironmentValue> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] };
  ports?: string[];
  volumes?: string[];
}

/**
 * What each subgraph's own schema (subgraphs/<graph>/<name>/src/config.ts) reads beyond the variables every
 * subgraph shares; kept by hand because those schemas are private to their modules.
 */
const SUBGRAPH_SPECIFIC_ENV: Record<string, string[]> = {
  'nexusflow/auth': [
    'JWT_SECRET',
    'MFA_ENCRYPTION_KEY',
    'ACCESS_TOKEN_TTL_SECONDS',
    'REFRESH_TOKEN_TTL_SECONDS',
    'NOTIFICATIONS_URL',
    'BILLING_URL',
    'SAML_SP_BASE_URL',
    'OIDC_REDIRECT_URIS',
    'OIDC_GOOGLE_CLIENT_ID',
    'OIDC_GOOGLE_CLIENT_SECRET',
    'OIDC_MICROSOFT_CLIENT_ID',
    'OIDC_MICROSOFT_CLIENT_SECRET',
    'OIDC_MICROSOFT_TRUST_EMAIL',
    'OIDC_GITHUB_CLIENT_ID',
    'OIDC_GITHUB_CLIENT_SECRET',
  ],
  'nexusflow/notifications': [
    'RUN_WORKER',
    'AUTH_URL',
    'DELIVERY_MAX_ATTEMPTS',
    'DELIVERY_BACKOFF_MS',
    'SENDGRID_API_URL',
    'SENDGRID_API_KEY',
    'SENDGRID_FROM',
    'TWILIO_API_URL',
    'TWILIO_ACCOUNT_SID',
    'TWILIO_AUTH_TOKEN',
    'TWILIO_FROM',
    'FCM_API_URL',
    'FCM_PROJECT_ID',
    'FCM_ACCESS_TOKEN',
  ],
  'nexusflow/scheduler': ['WORKFLOWS_URL', 'RUN_TICKER', 'TICK_INTERVAL_MS', 'MISFIRE_GRACE_MS'],
  'nexus-cos/scheduler': ['TASK_TARGET_URL_TEMPLATE', 'TASK_TARGET_URLS'],
  'nexus-cos/key-service': ['KEY_SERVICE_MASTER_KEY', 'KEY_SERVICE_PREVIOUS_MASTER_KEYS'],
  'nexus-cos/billing-service': [
    'INVOICE_GEN_URL',
    'LEDGER_MGR_URL',
    'STRIPE_SECRET_KEY',
    'STRIPE_WEBHOOK_SECRET',
    'STRIPE_API_BASE_URL',
    'STRIPE_WEBHOOK_MAX_BODY_BYTES',
    'STRIPE_EVENT_RETRY_INTERVAL_MS',
    'STRIPE_EVENT_LEASE_MS',
  ],
  'nexus-cos/ledger-mgr': ['BILLING_SERVICE_URL'],
  'nexus-cos/invoice-gen': ['LEDGER_MGR_URL', 'INVOICE_PDF_BASE_URL'],
  'nexus-cos/user-auth': ['SESSION_MGR_URL', 'EMAIL_VERIFICATION_URL', 'EMAIL_VERIFICATION_TTL_HOURS'],
  'nexus-cos/session-mgr': ['TOKEN_MGR_URL', 'SESSION_IDLE_TIMEOUT_MINUTES', 'SESSION_ABSOLUTE_TIMEOUT_HOURS'],
  'nexus-cos/auth-service': [
    'USER_AUTH_URL',
    'SESSION_MGR_URL',
    'TOKEN_MGR_URL',
    'LOGIN_RATE_LIMIT_PER_ACCOUNT',
    'LOGIN_RATE_LIMIT_PER_ADDRESS',
    'LOGIN_RATE_LIMIT_PERIOD_SECONDS',
    'DEPENDENCY_TIMEOUT_MS',
  ],
  'nexus-cos/auth-service-v2': ['TOKEN_MGR_URL', 'KEY_SERVICE_URL', 'USER_AUTH_URL', 'OAUTH_KEY_ENCRYPTION_KEY', 'OAUTH_ISSUER'],
  'nexus-cos/token-mgr': [
    'KEY_SERVICE_URL',
    'TOKEN_KEY_ENCRYPTION_KEY',
    'ACCESS_TOKEN_TTL_SECONDS',
    'KEY_ROTATION_INTERVAL_HOURS',
    'KEY_PUBLICATION_LEAD_MINUTES',
    'KEY_ROTATION_CHECK_INTERVAL_MS',
    'ROTATE_KEYS',
  ],
  'nexus-cos/streamcore': [
    'CONTENT_MANAGEMENT_URL',
    'CDN_SIGNING_KEY',
    'CDN_BASE_URL',
    'CDN_ORIGIN_DIR',
    'CDN_URL_TTL_SECONDS',
    'CDN_BIND_CLIENT_ADDRESS',
    'MAX_CONCURRENT_STREAMS',
    'PLAYBACK_SESSION_TTL_SECONDS',
    'PLAYBACK_SWEEP_INTERVAL_MS',
  ],
  'nexusflow/ai': [
    'WORKFLOWS_URL',
    'AUTH_URL',
    'OPENAI_API_KEY',
    'OPENAI_BASE_URL',
    'ANTHROPIC_API_KEY',
    'ANTHROPIC_BASE_URL',
    'AI_MODELS',
    'AI_ROUTES',
    'AI_EMBEDDING_MODEL',
    'AI_DEFAULT_MAX_TOKENS',
    'AI_REQUEST_TIMEOUT_MS',
    'AI_MAX_RETRIES',
    'AI_RETRY_BASE_MS',
    'AI_RETRY_MAX_WAIT_MS',
    'AI_BREAKER_FAILURES',
    'AI_BREAKER_COOLDOWN_MS',
    'AI_REQUESTS_PER_MINUTE',
    'AI_RATE_LIMIT_WINDOW_SECONDS',
    'AI_MAX_TOKENS_PER_REQUEST',
    'AI_PLAN_ROUTES',
    'AI_PLAN_CACHE_SECONDS',
    'AI_CACHE_TTL_SECONDS',
    'AI_CACHE_MAX_ENTRIES',
    'PINECONE_API_KEY',
    'PINECONE_INDEX_HOST',
  ],
  'nexusflow/integrations': [
    'INTEGRATIONS_ENCRYPTION_KEYS',
    'BILLING_URL',
    'INTEGRATIONS_REDIRECT_URI',
    'INTEGRATIONS_CONNECT_TTL_SECONDS',
    'INTEGRATIONS_REFRESH_MARGIN_SECONDS',
    'INTEGRATIONS_PROVIDER_TIMEOUT_SECONDS',
    'INTEGRATIONS_WEBHOOK_BASE_URL',
    'INTEGRATIONS_WEBHOOK_MAX_BODY_BYTES',
    'INTEGRATIONS_WEBHOOK_TOLERANCE_SECONDS',
    'INTEGRATIONS_SLACK_SIGNING_SECRET',
    ...['SALESFORCE', 'HUBSPOT', 'PIPEDRIVE', 'ZOHO_CRM', 'SLACK', 'MICROSOFT_TEAMS', 'GMAIL', 'OUTLOOK'].flatMap((provider) => [
      `INTEGRATIONS_${provider}_CLIENT_ID`,
      `INTEGRATIONS_${provider}_CLIENT_SECRET`,
    ]),
    ...['SALESFORCE', 'HUBSPOT', 'PIPEDRIVE', 'ZOHO_CRM', 'SLACK', 'MICROSOFT_TEAMS', 'GMAIL', 'OUTLOOK', 'ZAPIER', 'MAKE'].map(
      (provider) => `INTEGRATIONS_${provider}_BASE_URL`,
    ),
  ],
  'nexusflow/workflows': [
    'RUN_WORKER',
    'WORKER_CONCURRENCY',
    'ALLOW_PRIVATE_NETWORK_STEPS',
    'SWEEP_INTERVAL_MS',
    'STALL_AFTER_MS',
    'OUTBOX_POLL_INTERVAL_MS',
    'STEP_LEASE_MARGIN_MS',
    'TIMER_POLL_INTERVAL_MS',
    'WORKER_ID',
    'NOTIFICATIONS_URL',
    'AI_URL',
    'INTEGRATIONS_URL',
    'BILLING_URL',
    'WEBHOOK_SECRET_ENCRYPTION_KEY',
    'WEBHOOK_BASE_URL',
    'WEBHOOK_MAX_BODY_BYTES',
    'WEBHOOK_TOLERANCE_SECONDS',
  ],
  'nexusflow/billing': [
    'STRIPE_SECRET_KEY',
    'STRIPE_WEBHOOK_SECRET',
    'STRIPE_API_BASE_URL',
    'STRIPE_PRICE_STARTER',
    'STRIPE_PRICE_PRO',
    'STRIPE_PRICE_ENTERPRISE',
    'STRIPE_METER_EVENT_EXECUTIONS',
    'STRIPE_METER_EVENT_AI_TOKENS',
    'BILLING_PAST_DUE_GRACE_DAYS',
    'BILLING_USAGE_REPORT_INTERVAL_MINUTES',
    'BILLING_WEBHOOK_MAX_BODY_BYTES',
  ],
  'nexusflow/audit': ['AUDIT_EXPORT_BASE_URL', 'AUDIT_PRUNE_INTERVAL_MS', 'AUDIT_EVENT_CONCURRENCY', 'AUDIT_CHAIN_KEY'],
  'nexusflow/analytics': [
    'ANALYTICS_EXPORT_BASE_URL',
    'ANALYTICS_EVENT_CONCURRENCY',
    'ANALYTICS_PARTITION_INTERVAL_MS',
    'ANALYTICS_PARTITIONS_AHEAD',
    'ANALYTICS_SCHEDULE_INTERVAL_MS',
    'ANALYTICS_EXPORT_DIR',
    'ANALYTICS_EXPORT_RETENTION_HOURS',
    'NOTIFICATIONS_URL',
    'CLICKHOUSE_URL',
    'CLICKHOUSE_DATABASE',
  ],
};

const SHARED_SUBGRAPH_ENV = Object.keys(subgraphEnv({ port: 0 }));

const compose = parse(await readFile(deploymentFilePaths.compose, 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const initScript = await readFile(deploymentFilePaths.databases, 'utf8');

/** Every subgraph of every graph, with the name of its compose service. */
const subgraphs = graphNames.flatMap((graph) =>
  readTopology(graph).map((subgraph) => ({ ...subgraph, service: composeServiceName(graph, subgraph.name) })),
);
const gateways = graphNames.map((graph) => ({ graph, service: composeGatewayName(graph) }));
const applicationServices = [...subgraphs.map(({ service }) => service), ...gateways.map(({ service }) => service)];

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

function environmentOf(name: string): Record<string, string> {
  const environment = service(name).environment ?? {};
  if (Array.isArray(environment)) throw new Error(`service "${name}" must list its environment as a map`);
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, String(value ?? '')]));
}

function dependenciesOf(name: string): Record<string, string> {
  const dependsOn = service(name).depends_on ?? {};
  if (Array.isArray(dependsOn)) return Object.fromEntries(dependsOn.map((dependency) => [dependency, 'service_started']));
  return Object.fromEntries(Object.entries(dependsOn).map(([dependency, { condition }]) => [dependency, condition ?? 'service_started']));
}

/**
 * What Compose substitutes where none of the variables is set: a value long enough to pass as a secret for
 * `${NAME:?message}`, nothing for `${NAME:-}`.
 */
function interpolated(environment: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environment).map(([key, value]) => [
      key,
      value.replace(/\$\{\w+:\?[^}]*\}/g, 's'.repeat(32)).replace(/\$\{\w+:-\}/g, ''),
    ]),
  );
}

/** The gateway's command-line arguments, after its entry point. */
const gatewayArguments = (name: string) => service(name).command?.slice(service(name).command!.indexOf(GATEWAY.entry) + 1) ?? [];

/** A subgraph's configuration loader, `load<Name>Config` as every subgraph's config.ts exports it. */
async function configLoaderOf(graph: GraphName, name: string): Promise<(env: Record<string, string>) => { subgraph: SubgraphConfig }> {
  const module = (await import(join(repositoryRoot, 'subgraphs', graph, name, 'src/config.ts'))) as Record<string, unknown>;
  const loaders = Object.entries(module).filter(([exported, value]) => /^load\w+Config$/.test(exported) && typeof value === 'function');
  expect(loaders, `${graph}/${name} exports one load<Name>Config`).toHaveLength(1);
  return loaders[0]![1] as (env: Record<string, string>) => { subgraph: SubgraphConfig };
}

describe('docker-compose.yml', () => {
  it('runs a service for every subgraph of every graph and a gateway for every graph, and nothing else besides the infrastructure', () => {
    const expected = [...INFRASTRUCTURE, ...applicationServices].sort();
    expect(Object.keys(compose.services).sort()).toEqual(expected);
  });

  it('runs every application service from the one image, with an entry point that exists', async () => {
    const images = new Set(applicationServices.map((name) => service(name).image));
    expect(images.size).toBe(1);
    for (const { service: name, entry, nodeOptions } of subgraphs) {
      expect(service(name).build, name).toBe('.');
      expect(service(name).command, name).toEqual([...nodeOptions, entry]);
      await expect(access(join(repositoryRoot, entry))).resolves.toBeUndefined();
    }
    for (const { graph, service: name } of gateways) {
      expect(service(name).build, name).toBe('.');
      expect(service(name).command, name).toEqual([...GATEWAY.nodeOptions, GATEWAY.entry, '--graph', graph]);
    }
    await expect(access(join(repositoryRoot, GATEWAY.entry))).resolves.toBeUndefined();
  });

  it('runs PostgreSQL from an image that ships pgvector, which the AI service ranks document chunks with', () => {
    expect(service('postgres').image).toMatch(/^pgvector\/pgvector:pg\d+$/);
  });

  it('gives every subgraph and every gateway a heap budget, the one the launcher gives them', () => {
    for (const { service: name } of subgraphs)
      expect(service(name).command?.[0], name).toBe(`--max-old-space-size=${SUBGRAPH_HEAP_BUDGET_MB}`);
    for (const { service: name } of gateways) expect(service(name).command?.[0], name).toBe('--max-old-space-size=512');
  });

  it('starts every subgraph on its topology port and every gateway on its graph’s', () => {
    for (const { service: name, port } of subgraphs) expect(environmentOf(name).PORT, name).toBe(String(port));
    for (const { graph, service: name } of gateways) expect(environmentOf(name).PORT, name).toBe(String(gatewayPort(graph)));
  });

  it('runs every application service in production mode, as `npm run start:prod` does, listening on all interfaces as a container must', () => {
    expect(PRODUCTION_ENVIRONMENT).toEqual({ NODE_ENV: 'production' });
    for (const name of applicationServices) {
      expect(environmentOf(name), name).toMatchObject({ ...PRODUCTION_ENVIRONMENT, HOST: '0.0.0.0' });
    }
  });

  it('restarts every service that exits unless it was stopped, as the launcher does', () => {
    for (const name of Object.keys(compose.services)) expect(service(name).restart, name).toBe('unless-stopped');
  });

  it('gives every subgraph its own database', () => {
    for (const { service: name, database } of subgraphs) {
      const url = new URL(environmentOf(name).DATABASE_URL ?? '', 'invalid:/');
      expect(url.protocol, name).toBe('postgres:');
      expect(url.host, name).toBe('postgres:5432');
      expect(url.pathname, name).toBe(`/${database}`);
    }
  });

  it('creates every subgraph database, and no other, when PostgreSQL initialises its volume', () => {
    const created = [...initScript.matchAll(/create database\s+"?(\w+)"?/gi)].map((match) => match[1]);
    expect(created.sort()).toEqual(subgraphs.map(({ database }) => database).sort());
    expect(service('postgres').volumes).toContain('./docker/postgres/init-databases.sql:/docker-entrypoint-initdb.d/init-databases.sql:ro');
  });

  it('connects every subgraph and every gateway to Redis', () => {
    for (const name of applicationServices) expect(environmentOf(name).REDIS_URL, name).toBe('redis://redis:6379');
  });

  it('connects to RabbitMQ exactly the subgraphs that use it, once it is healthy', () => {
    for (const { graph, name, service: composeName } of subgraphs) {
      const { usesRabbitMq } = servicesOf(graph).find((candidate) => candidate.name === name)!;
      expect(environmentOf(composeName).AMQP_URL, composeName).toBe(usesRabbitMq ? 'amqp://guest:guest@rabbitmq:5672' : undefined);
      expect(dependenciesOf(composeName).rabbitmq, composeName).toBe(usesRabbitMq ? 'service_healthy' : undefined);
    }
  });

  it('gives every service the secrets it needs from required variables, never from the file', () => {
    const needs = [
      ...subgraphs.map(({ service: name, secrets }) => ({ name, secrets })),
      // A graph whose tokens its gateway verifies from an issuer's JWKS shares no JWT_SECRET with it.
      ...gateways.map(({ graph, service: name }) => ({ name, secrets: accessTokenIssuerOf(graph) ? [] : ['JWT_SECRET'] })),
    ];
    for (const { name, secrets } of needs) {
      for (const secret of ['INTERNAL_SECRET', ...secrets]) {
        expect(environmentOf(name)[secret], `${name} ${secret}`).toMatch(new RegExp(`^\\$\\{${secret}:\\?[^}]+\\}$`));
      }
    }
  });

  it('passes a subgraph’s optional variables through from where Compose runs, empty when unset', () => {
    for (const { graph, name, service: composeName } of subgraphs) {
      const { optionalVariables } = servicesOf(graph).find((candidate) => candidate.name === name)!;
      for (const variable of optionalVariables) expect(environmentOf(composeName)[variable], variable).toBe(`\${${variable}:-}`);
    }
  });

  it('sets only variables that the service reads', () => {
    for (const { graph, name, service: composeName } of subgraphs) {
      const read = [...SHARED_SUBGRAPH_ENV, ...(SUBGRAPH_SPECIFIC_ENV[`${graph}/${name}`] ?? [])];
      for (const variable of Object.keys(environmentOf(composeName))) expect(read, `${composeName} ${variable}`).toContain(variable);
    }
    for (const { graph, service: name } of gateways) {
      const gatewayRead = [...GATEWAY_VARIABLES, ...servicesOf(graph).map((subgraph) => subgraphRouteVariable(subgraph.name))];
      for (const variable of Object.keys(environmentOf(name))) expect(gatewayRead, `${name} ${variable}`).toContain(variable);
    }
  });

  it('is a configuration every subgraph accepts in production, on its port, database, Redis and broker', async () => {
    for (const { graph, name, port, service: composeName } of subgraphs) {
      const environment = environmentOf(composeName);
      const load = await configLoaderOf(graph, name);
      expect(load(interpolated(environment)).subgraph, composeName).toMatchObject({
        nodeEnv: 'production',
        port,
        host: '0.0.0.0',
        databaseUrl: environment.DATABASE_URL,
        redisUrl: 'redis://redis:6379',
        amqpUrl: environment.AMQP_URL,
      });
    }
  });

  it('starts a subgraph only once PostgreSQL and Redis are healthy', () => {
    for (const { service: name } of subgraphs) {
      expect(dependenciesOf(name), name).toMatchObject({ postgres: 'service_healthy', redis: 'service_healthy' });
    }
  });

  it('checks the readiness of every application service on the port it listens on', () => {
    for (const name of applicationServices) {
      const probe = service(name).healthcheck?.test?.join(' ') ?? '';
      expect(probe, name).toContain('/health/ready');
      expect(probe, name).toContain('process.env.PORT');
    }
  });

  it('routes each gateway to every subgraph of its graph by service name and topology port', () => {
    for (const { graph, service: name } of gateways) {
      const routes = Object.entries(environmentOf(name)).filter(([key]) => /^SUBGRAPH_\w+_URL$/.test(key));
      const expected = servicesOf(graph).map(({ name: subgraph, port }) => [
        subgraphRouteVariable(subgraph),
        `http://${composeServiceName(graph, subgraph)}:${port}/graphql`,
      ]);
      expect(Object.fromEntries(routes), name).toEqual(Object.fromEntries(expected));
    }
  });

  it('points a subgraph that calls another straight at it, and starts it once that one is healthy', () => {
    for (const { graph, name: caller, service: name, links } of subgraphs) {
      for (const [variable, target] of Object.entries(links)) {
        const { port } = subgraphs.find((candidate) => candidate.graph === graph && candidate.name === target)!;
        expect(environmentOf(name)[variable], `${name}.${variable}`).toBe(composeServiceUrl(graph, target, port));
        const order = subgraphs.filter((candidate) => candidate.graph === graph).map((candidate) => candidate.name);
        const callsBack = Object.values(
          subgraphs.find((candidate) => candidate.graph === graph && candidate.name === target)!.links,
        ).includes(caller);
        // Of two services calling each other, the one listed first cannot wait for the other: compose refuses cycles.
        if (callsBack && order.indexOf(target) > order.indexOf(caller)) {
          expect(service(name).depends_on, name).not.toHaveProperty(composeServiceName(graph, target));
        } else {
          expect(service(name).depends_on, name).toMatchObject({ [composeServiceName(graph, target)]: { condition: 'service_healthy' } });
        }
      }
    }
  });

  it('is a configuration each gateway accepts in production, serving its graph’s published supergraph with a route to every subgraph', () => {
    for (const { graph, service: name } of gateways) {
      const config = loadGatewayConfig(interpolated(environmentOf(name)), gatewayArguments(name));
      expect(config.nodeEnv, name).toBe('production');
      expect(config.port, name).toBe(gatewayPort(graph));
      expect(config.supergraphPath, name).toBe(`/app/schema/${graph}/registry/published/supergraph.graphql`);
      expect(service(name).volumes, name).toContain(`./schema/${graph}/registry:/app/schema/${graph}/registry:ro`);
      expect(config.subgraphUrls, name).toEqual(
        Object.fromEntries(
          servicesOf(graph).map(({ name: subgraph, port }) => [subgraphUrlKey(subgraph), composeServiceUrl(graph, subgraph, port)]),
        ),
      );
    }
  });

  it('keeps each gateway’s metrics off the published port, on an admin listener the containers of the network can scrape', () => {
    for (const { service: name } of gateways) {
      const config = loadGatewayConfig(interpolated(environmentOf(name)), gatewayArguments(name));
      expect(config.publicMetrics, name).toBe(false);
      expect(config.admin, name).toEqual({ port: 9000, host: '0.0.0.0' });
      expect(service(name).ports, name).not.toContainEqual(expect.stringContaining('9000'));
    }
  });

  it('starts each gateway only once Redis and every subgraph of an earlier tier of its graph are healthy (all of them, without a tier)', () => {
    for (const { graph, service: name } of gateways) {
      const earlier = servicesOf(graph).filter(({ tier }) => tierRank(tier) < gatewayRank(graph));
      if ((topology[graph] as GraphTopology).gatewayTier === undefined) expect(earlier).toEqual(servicesOf(graph));
      const expected = Object.fromEntries(
        [...earlier.map((subgraph) => composeServiceName(graph, subgraph.name)), 'redis'].map((dependency) => [
          dependency,
          'service_healthy',
        ]),
      );
      expect(dependenciesOf(name), name).toMatchObject(expected);
    }
  });

  it('starts each subgraph in the deployment order: once every service of the tiers before it, and a gateway of an earlier tier, are healthy', () => {
    for (const { graph, name, service: composeName } of subgraphs) {
      const rank = tierRank(describeService(graph, name).tier);
      const earlier = [
        ...servicesOf(graph)
          .filter(({ tier }) => tierRank(tier) < rank)
          .map((service) => composeServiceName(graph, service.name)),
        ...(gatewayRank(graph) < rank ? [composeGatewayName(graph)] : []),
      ];
      for (const dependency of earlier)
        expect(dependenciesOf(composeName)[dependency], `${composeName} after ${dependency}`).toBe('service_healthy');
    }
    expect(dependenciesOf(composeGatewayName('nexus-cos'))).toMatchObject({ 'nexus-cos-token-mgr': 'service_healthy' });
    expect(composeGatewayName('nexus-cos')).toBe('nexus-cos-backend-api');
  });

  it('publishes the gateways, and besides them only the subgraphs with public routes (webhooks), on the host', () => {
    for (const { graph, service: name } of gateways)
      expect(service(name).ports, name).toEqual([`${gatewayPort(graph)}:${gatewayPort(graph)}`]);
    const published = new Map(
      subgraphs
        .filter(({ graph, name }) => Object.keys(describeService(graph, name).publicRoutes).length > 0)
        .map(({ service: composeName, port }) => [composeName, [`${port}:${port}`]]),
    );
    expect([...published.keys()]).toContain('nexusflow-workflows');
    const gatewayServices = new Set(gateways.map(({ service: name }) => name));
    for (const name of Object.keys(compose.services).filter((name) => !gatewayServices.has(name))) {
      expect(service(name).ports, name).toEqual(published.get(name));
    }
  });
});
