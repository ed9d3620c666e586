import { readFile } from 'node:fs/promises';
import { buildSchema, Kind, parse, validate, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../src/config.ts';
import { startGateway, type RunningGateway } from '../src/gateway.ts';
import { EXPLORER_DOCUMENT } from '../src/landing-page.ts';

describe('the gateway landing page', () => {
  let gateway: RunningGateway;

  beforeAll(async () => {
    // Test files run in parallel on a busy machine, where load shedding would refuse the operations these tests send.
    gateway = await startGateway(
      loadGatewayConfig({ PORT: '0', LOG_LEVEL: 'silent', LOAD_SHEDDING_DELAY_MS: '0', SUBGRAPH_AUTH_URL: 'http://127.0.0.1:9/graphql' }),
    );
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('serves GraphiQL at / with every script and stylesheet from the gateway itself, none from a CDN', async () => {
    const response = await fetch(`${gateway.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)]
      .map((match) => match[1]!)
      .filter((reference) => !reference.startsWith('data:'));
    expect(references.length).toBeGreaterThanOrEqual(5);
    for (const reference of references) {
      expect(reference).toMatch(/^\/graphiql\//);
      const asset = await fetch(`${gateway.url}${reference}`);
      expect(asset.status, reference).toBe(200);
      expect((await asset.arrayBuffer()).byteLength, reference).toBeGreaterThan(1000);
    }
  });

  it('runs no inline script, so that its Content-Security-Policy allows scripts from the gateway only', async () => {
    const response = await fetch(`${gateway.url}/`);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self';");
    const scripts = [...(await response.text()).matchAll(/<script([^>]*)>/g)].map((match) => match[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const attributes of scripts) expect(attributes).toMatch(/ src="\/graphiql\//);
  });

  it('opens with example operations, from register to watching a run, that the supergraph accepts', async () => {
    const schema = buildSchema(await readFile(new URL('../../schema/nexusflow/api-schema.graphql', import.meta.url), 'utf8'));
    const document = parse(EXPLORER_DOCUMENT);
    expect(validate(schema, document).map((error) => error.message)).toEqual([]);
    const operations = document.definitions.filter(
      (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
    );
    expect(operations.map((operation) => `${operation.operation} ${operation.name?.value}`)).toEqual([
      'mutation Register',
      'mutation Login',
      'query Me',
      'mutation CreateWorkflow',
      'mutation RunWorkflow',
      'subscription WatchExecution',
    ]);
    const explorerScript = await (await fetch(`${gateway.url}/graphiql/explorer.js`)).text();
    expect(explorerScript).toContain(JSON.stringify(EXPLORER_DOCUMENT));
  });

  it('shows the explorer to a browser at the GraphQL path, and answers GraphQL there otherwise', async () => {
    const browser = await fetch(`${gateway.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await browser.text()).toContain('<div id="graphiql">');
    const client = await fetch(`${gateway.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(await client.json()).toMatchObject({ data: { __typename: 'Query' } });
  });

  it('exposes Prometheus metrics that count the operations it served', async () => {
    await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(sampleOf(metrics, 'graphql_operations_total', { operation_type: 'query', outcome: 'ok' })).toBeGreaterThan(0);
    expect(sampleOf(metrics, 'http_request_duration_seconds_count', { method: 'POST', route: '/graphql', status: '200' })).toBeGreaterThan(
      0,
    );
  });

  it('answers an unknown path with 404 and a coded error', async () => {
    const response = await fetch(`${gateway.url}/wp-admin`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ errors: [{ message: 'No route for GET /wp-admin', extensions: { code: 'NOT_FOUND' } }] });
  });
});

/** The value of the first sample of `name` carrying all of `labels`, in Prometheus text format. */
function sampleOf(exposition: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) return Number(line.split(' ').pop());
  }
  return undefined;
}
