import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GATEWAY_VARIABLES, loadGatewayConfig } from '../gateway/src/config.ts';
import { subgraphEnv } from '../packages/kit/src/config.ts';
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

const INFRASTRUCTURE = ['postgres', 'redis', 'rabbitmq'];

/**
 * What each subgraph's own schema (subgraphs/<name>/src/config.ts) reads beyond the variables every
 * subgraph shares; kept by hand because those schemas are private to their modules.
 */
const SUBGRAPH_SPECIFIC_ENV: Record<string, string[]> = {
  auth: ['JWT_SECRET', 'ACCESS_TOKEN_TTL_SECONDS', 'REFRESH_TOKEN_TTL_SECONDS'],
  notifications: [
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
  scheduler: ['WORKFLOWS_URL', 'RUN_TICKER', 'TICK_INTERVAL_MS', 'MISFIRE_GRACE_MS'],
  workflows: [
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
  ],
};

const SHARED_SUBGRAPH_ENV = Object.keys(subgraphEnv({ port: 0 }));

const topology = readTopology();
const compose = parse(await readFile(join(repositoryRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const initScript = await readFile(join(repositoryRoot, 'docker/postgres/init-databases.sql'), 'utf8');

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

/** What Compose substitutes for `${NAME:?message}`: here, any value long enough to pass as a secret. */
function interpolated(environment: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, value.replace(/\$\{\w+:\?[^}]*\}/g, 's'.repeat(32))]));
}

const applicationServices = [...topology.map(({ name }) => name), GATEWAY.name];

describe('docker-compose.yml', () => {
  it('runs a service for every subgraph of the topology and the gateway, and nothing else besides the infrastructure', () => {
    const expected = [...INFRASTRUCTURE, ...applicationServices].sort();
    expect(Object.keys(compose.services).sort()).toEqual(expected);
  });

  it('runs every application service from the one image, with an entry point that exists', async () => {
    const images = new Set(applicationServices.map((name) => service(name).image));
    expect(images.size).toBe(1);
    for (const { name, entry, nodeOptions } of [...topology, GATEWAY]) {
      expect(service(name).build, name).toBe('.');
      expect(service(name).command, name).toEqual([...nodeOptions, entry]);
      await expect(access(join(repositoryRoot, entry))).resolves.toBeUndefined();
    }
  });

  it('gives every subgraph and the gateway a heap budget, the one the launcher gives them', () => {
    for (const { name } of topology) expect(service(name).command?.[0], name).toBe(`--max-old-space-size=${SUBGRAPH_HEAP_BUDGET_MB}`);
    expect(service(GATEWAY.name).command?.[0]).toBe('--max-old-space-size=512');
  });

  it('starts every subgraph on its catalogue port and the gateway on its own', () => {
    for (const { name, port } of topology) expect(environmentOf(name).PORT, name).toBe(String(port));
    expect(environmentOf(GATEWAY.name).PORT).toBe(String(gatewayPort('nexusflow')));
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
    for (const { name, database } of topology) {
      const url = new URL(environmentOf(name).DATABASE_URL ?? '', 'invalid:/');
      expect(url.protocol, name).toBe('postgres:');
      expect(url.host, name).toBe('postgres:5432');
      expect(url.pathname, name).toBe(`/${database}`);
    }
  });

  it('creates every subgraph database, and no other, when PostgreSQL initialises its volume', () => {
    const created = [...initScript.matchAll(/create database\s+"?(\w+)"?/gi)].map((match) => match[1]);
    expect(created.sort()).toEqual(topology.map(({ database }) => database).sort());
    expect(service('postgres').volumes).toContain('./docker/postgres/init-databases.sql:/docker-entrypoint-initdb.d/init-databases.sql:ro');
  });

  it('connects every subgraph and the gateway to Redis', () => {
    for (const name of applicationServices) expect(environmentOf(name).REDIS_URL, name).toBe('redis://redis:6379');
  });

  it('gives every service the secrets it needs from required variables, never from the file', () => {
    const needs = [...topology.map(({ name, secrets }) => ({ name, secrets })), { name: GATEWAY.name, secrets: ['JWT_SECRET'] }];
    for (const { name, secrets } of needs) {
      for (const secret of ['INTERNAL_SECRET', ...secrets]) {
        expect(environmentOf(name)[secret], `${name} ${secret}`).toMatch(new RegExp(`^\\$\\{${secret}:\\?[^}]+\\}$`));
      }
    }
  });

  it('sets only variables that the service reads', () => {
    for (const { name } of topology) {
      const read = [...SHARED_SUBGRAPH_ENV, ...(SUBGRAPH_SPECIFIC_ENV[name] ?? [])];
      for (const variable of Object.keys(environmentOf(name))) expect(read, `${name} ${variable}`).toContain(variable);
    }
    const gatewayRead = [...GATEWAY_VARIABLES, ...topology.map(({ name }) => `SUBGRAPH_${name.toUpperCase()}_URL`)];
    for (const variable of Object.keys(environmentOf(GATEWAY.name))) expect(gatewayRead, variable).toContain(variable);
  });

  it('starts a subgraph only once PostgreSQL and Redis are healthy', () => {
    for (const { name } of topology) {
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

  it('routes the gateway to every subgraph by its service name and catalogue port', () => {
    const routes = Object.entries(environmentOf(GATEWAY.name)).filter(([key]) => /^SUBGRAPH_\w+_URL$/.test(key));
    const expected = topology.map(({ name, port }) => [`SUBGRAPH_${name.toUpperCase()}_URL`, `http://${name}:${port}/graphql`]);
    expect(Object.fromEntries(routes)).toEqual(Object.fromEntries(expected));
  });

  it('points a subgraph that calls another straight at it, and starts it once that one is healthy', () => {
    for (const { name, links } of topology) {
      for (const [variable, target] of Object.entries(links)) {
        const port = topology.find((candidate) => candidate.name === target)!.port;
        expect(environmentOf(name)[variable], `${name}.${variable}`).toBe(`http://${target}:${port}/graphql`);
        expect(service(name).depends_on, name).toMatchObject({ [target]: { condition: 'service_healthy' } });
      }
    }
  });

  it('is a configuration the gateway accepts in production, with a route to every subgraph', () => {
    const config = loadGatewayConfig(interpolated(environmentOf(GATEWAY.name)));
    expect(config.subgraphUrls).toEqual(Object.fromEntries(topology.map(({ name, port }) => [name, `http://${name}:${port}/graphql`])));
  });

  it('keeps the gateway’s metrics off the published port, on an admin listener the containers of the network can scrape', () => {
    const config = loadGatewayConfig(interpolated(environmentOf(GATEWAY.name)));
    expect(config.publicMetrics).toBe(false);
    expect(config.admin).toEqual({ port: 9000, host: '0.0.0.0' });
    expect(service(GATEWAY.name).ports).not.toContainEqual(expect.stringContaining('9000'));
  });

  it('starts the gateway only once every subgraph and Redis are healthy', () => {
    const expected = Object.fromEntries([...topology.map(({ name }) => name), 'redis'].map((name) => [name, 'service_healthy']));
    expect(dependenciesOf(GATEWAY.name)).toMatchObject(expected);
  });

  it('publishes the gateway, and only the gateway, on the host', () => {
    expect(service(GATEWAY.name).ports).toEqual([`${gatewayPort('nexusflow')}:${gatewayPort('nexusflow')}`]);
    for (const name of Object.keys(compose.services).filter((name) => name !== GATEWAY.name)) {
      expect(service(name).ports, name).toBeUndefined();
    }
  });
});
