import { createHash } from 'node:crypto';
import { get, type IncomingMessage } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serverAudits } from 'graphql-http';
import { Role, signAccessToken } from '@nexusflow/kit/core';
import { createTempDirectory, postGraphQL } from '@nexusflow/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../src/config.ts';
import type { RunningGateway } from '../src/gateway.ts';
import { startEdgeFixture, TEST_JWT_SECRET, type EdgeFixture } from './support/edge-fixture.ts';
import { ProtocolSession } from './support/ws-session.ts';

/** Each level spreads the level below twice under two aliases: twelve levels are 1.7 KB of text and 8,192 copies of the bottom. */
function doublingFragments(levels: number): string {
  let fragments = 'fragment L0 on User { id name }\n';
  for (let level = 1; level <= levels; level++)
    fragments += `fragment L${level} on User { a: reviews { author { ...L${level - 1} } } b: reviews { author { ...L${level - 1} } } }\n`;
  return `{ me { ...L${levels} } }\n${fragments}`;
}

/** Eighteen aliases of a query that crosses all four subgraphs: valid, within the limits, and not free to plan. */
const HEAVY_TO_PLAN = `{ ${Array.from({ length: 18 }, (_, i) => `p${i}: topProducts(first: ${i + 1}) { upc shippingEstimate reviews { author { username reviews { product { name inStock } } } } }`).join(' ')} }`;

async function metric(gateway: RunningGateway, line: RegExp): Promise<number> {
  const text = await gateway.metrics.registry.metrics();
  const match = text.split('\n').find((candidate) => line.test(candidate));
  return match ? Number(match.split(' ').at(-1)) : 0;
}

const token = async (userId: string, tenantId = 'tenant-1') =>
  (await signAccessToken({ userId, tenantId, roles: [Role.Member] }, TEST_JWT_SECRET, 900)).token;

describe('the gateway at its edge, over HTTP', () => {
  let fixture: EdgeFixture;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fixture = await startEdgeFixture();
    gateway = await fixture.gateway();
  });

  afterAll(async () => {
    await fixture?.close();
  });

  describe('refuses abusive documents before validating or planning them', () => {
    it.each([
      ['fragments that double at every level', doublingFragments(12), 'MAX_DEPTH_LIMIT'],
      [
        'fragments that double without nesting',
        `{ me { ...F12 } } fragment F0 on User { id name } ${Array.from({ length: 12 }, (_, i) => `fragment F${i + 1} on User { ...F${i} ...F${i} }`).join(' ')}`,
        'MAX_FIELDS_LIMIT',
      ],
      ['ten thousand aliases', `{ ${Array.from({ length: 10_000 }, (_, i) => `a${i}: __typename`).join(' ')} }`, 'MAX_TOKENS_LIMIT'],
      [
        'forty aliases of a field crossing subgraphs',
        `{ me { ${Array.from({ length: 40 }, (_, i) => `r${i}: reviews { product { name } }`).join(' ')} } }`,
        'MAX_ALIASES_LIMIT',
      ],
      ['selections nested twenty levels deep', `{ me { ${'reviews { author { '.repeat(10)}id${' } }'.repeat(10)} } }`, 'MAX_DEPTH_LIMIT'],
      ['twenty-five root fields', `{ ${Array.from({ length: 25 }, (_, i) => `m${i}: me { id }`).join(' ')} }`, 'MAX_ROOT_FIELDS_LIMIT'],
      [
        'a field under six directives',
        '{ me @include(if: true) @include(if: true) @skip(if: false) @skip(if: false) @include(if: true) @skip(if: false) { id } }',
        'MAX_DIRECTIVES_LIMIT',
      ],
    ])('%s, with HTTP 400 and the limit’s code, and goes on answering', async (_name, query, code) => {
      const refusedBefore = await metric(gateway, new RegExp(`^gateway_operations_refused_total\\{.*code="${code}"`));
      const refused = await postGraphQL(gateway.graphqlUrl, query);
      expect(refused.status).toBe(400);
      expect(refused.errors).toEqual([{ message: expect.any(String), extensions: { code } }]);
      expect(refused.data).toBeUndefined();
      expect(await metric(gateway, new RegExp(`^gateway_operations_refused_total\\{.*code="${code}"`))).toBe(refusedBefore + 1);
      expect((await postGraphQL(gateway.graphqlUrl, '{ __typename }')).data).toEqual({ __typename: 'Query' });
    });

    it('refuses the same document from its remembered verdict, over GET as over POST', async () => {
      const query = `{ me { ${'reviews { author { '.repeat(10)}id${' } }'.repeat(10)} } }`;
      const response = await fetch(`${gateway.graphqlUrl}?query=${encodeURIComponent(query)}`, {
        headers: { 'apollo-require-preflight': 'true' },
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        errors: [
          { message: 'The operation nests selections 22 levels deep; at most 15 are allowed', extensions: { code: 'MAX_DEPTH_LIMIT' } },
        ],
      });
    });

    it.each([
      [
        'two operations and no operationName',
        'query A { __typename } query B { __typename }',
        undefined,
        'Must provide operation name if query contains multiple operations.',
      ],
      ['an operationName the document does not hold', 'query A { __typename }', 'B', 'Unknown operation named "B".'],
    ])('answers %s with HTTP 400 and OPERATION_RESOLUTION_FAILURE', async (_name, query, operationName, message) => {
      const response = await fetch(gateway.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, operationName }),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ errors: [{ message, extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } }] });
    });

    it('refuses variables nested 20,000 levels deep as bad input', async () => {
      const nested = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
      const response = await fetch(gateway.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"query":"query ($n: Int) { topProducts(first: $n) { upc } }","variables":{"n":${nested}}}`,
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        errors: [{ message: 'Variables are nested more than 32 levels deep', extensions: { code: 'BAD_USER_INPUT' } }],
      });
    });

    it('still answers a syntax error with the parser’s message and location', async () => {
      const broken = await postGraphQL(gateway.graphqlUrl, '{ me { id ');
      expect(broken.status).toBe(400);
      expect(broken.errors?.[0]).toMatchObject({
        message: 'Syntax Error: Expected Name, found <EOF>.',
        extensions: { code: 'GRAPHQL_PARSE_FAILED' },
      });
    });
  });

  describe('plans on worker threads', () => {
    it('answers an operation whose plan outlives the planner’s time with HTTP 400, and remembers the refusal', async () => {
      // Its cost would refuse it first; here the planner is what is tried.
      const impatient = await fixture.gateway({ PLANNER_TIMEOUT_MS: '1', DEMAND_CONTROL: 'off' });
      const refused = await postGraphQL(impatient.graphqlUrl, HEAVY_TO_PLAN);
      expect(refused.status).toBe(400);
      expect(refused.errors).toEqual([
        {
          message: 'This operation cannot be planned: Planning this operation takes longer than 1 ms',
          extensions: { code: 'QUERY_PLANNING_FAILED' },
        },
      ]);
      // The refusal is remembered: the same document does not cost a worker again.
      expect((await postGraphQL(impatient.graphqlUrl, HEAVY_TO_PLAN)).errors?.[0]?.extensions?.code).toBe('QUERY_PLANNING_FAILED');
      const patient = await fixture.gateway({ DEMAND_CONTROL: 'off' });
      expect((await postGraphQL(patient.graphqlUrl, HEAVY_TO_PLAN)).data?.p0).toEqual([expect.objectContaining({ upc: '1' })]);
    });
  });

  describe('bounds an operation’s time', () => {
    it('answers GATEWAY_TIMEOUT with HTTP 504 when the subgraphs take longer than the operation timeout', async () => {
      const hurried = await fixture.gateway({ OPERATION_TIMEOUT_MS: '300' });
      const timedOut = await postGraphQL(hurried.graphqlUrl, '{ slow }');
      expect(timedOut.status).toBe(504);
      expect(timedOut.errors).toEqual([{ message: 'The operation did not finish within 300 ms', extensions: { code: 'GATEWAY_TIMEOUT' } }]);
      fixture.releaseSlow();
    });
  });

  describe('demand control', () => {
    const EXPENSIVE = '{ topProducts(first: 10) { upc reviews { author { username } } } }';

    it('estimates every operation, reports it with the actual cost, and counts both in metrics', async () => {
      const response = await postGraphQL(gateway.graphqlUrl, '{ topProducts(first: 2) { upc } }');
      expect(response.data).toEqual({ topProducts: [{ upc: '1' }, { upc: '2' }] });
      const cost = (response as { extensions?: { cost?: Record<string, unknown> } }).extensions?.cost;
      // No @listSize in these subgraphs: the list is assumed to hold the default 10, and held 2.
      expect(cost).toEqual({ estimated: 10, actual: 2, max: 5000, mode: 'enforce' });
      expect(await metric(gateway, /^gateway_operation_cost_estimated_count/)).toBeGreaterThan(0);
      expect(await metric(gateway, /^gateway_operation_cost_actual_count/)).toBeGreaterThan(0);
    });

    it('refuses an operation estimated above the maximum, before planning it', async () => {
      const strict = await fixture.gateway({ MAX_COST: '50' });
      const refused = await postGraphQL(strict.graphqlUrl, EXPENSIVE);
      expect(refused.status).toBe(400);
      expect(refused.errors).toEqual([
        {
          message: expect.stringMatching(/^The operation's estimated cost is \d+, above the maximum of 50$/),
          extensions: { code: 'COST_ESTIMATED_TOO_EXPENSIVE' },
        },
      ]);
      expect(await metric(strict, /^gateway_operations_refused_total\{.*code="COST_ESTIMATED_TOO_EXPENSIVE"/)).toBe(1);
    });

    it('answers an automatic persisted query Apollo Server refuses with BAD_REQUEST in Apollo’s words, not as an internal error', async () => {
      const query = '{ topProducts(first: 1) { upc } }';
      const persisted = (extensions: Record<string, unknown>) =>
        fetch(gateway.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query, extensions: { persistedQuery: extensions } }),
        });

      const mismatched = await persisted({ version: 1, sha256Hash: '0'.repeat(64) });
      const otherVersion = await persisted({ version: 2, sha256Hash: createHash('sha256').update(query).digest('hex') });

      expect(mismatched.status).toBe(400);
      expect(await mismatched.json()).toEqual({
        errors: [{ message: 'provided sha does not match query', extensions: { code: 'BAD_REQUEST' } }],
      });
      expect(otherVersion.status).toBe(400);
      expect(await otherVersion.json()).toEqual({
        errors: [{ message: 'Unsupported persisted query version', extensions: { code: 'BAD_REQUEST' } }],
      });
    });

    it('only measures in measure mode', async () => {
      const measuring = await fixture.gateway({ MAX_COST: '50', DEMAND_CONTROL: 'measure' });
      const response = await postGraphQL(measuring.graphqlUrl, EXPENSIVE);
      expect(response.errors).toBeUndefined();
      const cost = (response as { extensions?: { cost?: { estimated: number; actual: number } } }).extensions?.cost;
      expect(cost?.estimated).toBeGreaterThan(50);
      expect(cost?.actual).toBeGreaterThan(0);
    });
  });

  describe('trusted documents', () => {
    const TOP = 'query Top { topProducts(first: 1) { upc } }';
    const id = createHash('sha256').update(TOP).digest('hex');
    let manifestDir: Awaited<ReturnType<typeof createTempDirectory>>;
    let manifest: string;

    beforeAll(async () => {
      manifestDir = await createTempDirectory('manifest');
      manifest = join(manifestDir.path, 'persisted-query-manifest.json');
      await writeFile(
        manifest,
        JSON.stringify({
          format: 'apollo-persisted-query-manifest',
          version: 1,
          operations: [{ id, name: 'Top', type: 'query', body: TOP }],
        }),
      );
    });
    afterAll(async () => {
      await manifestDir?.remove();
    });

    const byId = (url: string, sha256Hash: string) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash } } }),
      }).then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }));

    it('with require-id, serves manifest operations by id only', async () => {
      const strict = await fixture.gateway({ TRUSTED_DOCUMENTS: 'require-id', TRUSTED_DOCUMENTS_MANIFESTS: manifest });
      expect(await byId(strict.graphqlUrl, id)).toEqual({
        status: 200,
        body: { data: { topProducts: [{ upc: '1' }] }, extensions: expect.any(Object) },
      });
      const asText = await postGraphQL(strict.graphqlUrl, TOP);
      expect({ status: asText.status, errors: asText.errors }).toEqual({
        status: 400,
        errors: [{ message: 'This gateway serves trusted documents by id only', extensions: { code: 'PERSISTED_QUERY_NOT_IN_LIST' } }],
      });
      expect(await byId(strict.graphqlUrl, 'f'.repeat(64))).toEqual({
        status: 400,
        body: { errors: [{ message: 'No trusted document has this id', extensions: { code: 'PERSISTED_QUERY_NOT_IN_LIST' } }] },
      });
      // graphql-ws requires a query string in every subscribe: an empty one beside the id sends the id alone.
      const session = await ProtocolSession.open(strict.graphqlUrl);
      try {
        await session.init();
        const overWebSocket = await session.run({ query: '', extensions: { persistedQuery: { version: 1, sha256Hash: id } } });
        expect(overWebSocket.results).toEqual([{ data: { topProducts: [{ upc: '1' }] }, extensions: expect.any(Object) }]);
      } finally {
        session.close();
      }
    });

    it('with safelist, also serves their exact text, whitespace and comments aside, and nothing else', async () => {
      const safelist = await fixture.gateway({ TRUSTED_DOCUMENTS: 'safelist', TRUSTED_DOCUMENTS_MANIFESTS: manifest });
      expect((await postGraphQL(safelist.graphqlUrl, `# the web app's\n${TOP.replace(' { upc }', ' {\n  upc\n}')}`)).data).toEqual({
        topProducts: [{ upc: '1' }],
      });
      const other = await postGraphQL(safelist.graphqlUrl, 'query Top { topProducts(first: 5) { upc } }');
      expect(other.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    });

    it('reads the manifests the schema registry knows by default', async () => {
      const config = loadGatewayConfig({ TRUSTED_DOCUMENTS: 'require-id' });
      expect(config.trustedDocuments.manifests).toBeUndefined();
      const defaultManifests = await fixture.gateway({ TRUSTED_DOCUMENTS: 'allow' });
      // The mobile app's manifest is under clients/: its operations are known by id.
      const mobileMe = await byId(defaultManifests.graphqlUrl, '420b32b54eb12cc0bcadc1add7bce988a9ee11803d6a04c699aba17ef8d80bde');
      expect(mobileMe.body.errors).toEqual([expect.objectContaining({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })]);
    });
  });

  describe('rate limits that cannot be dodged', () => {
    it('keys anonymous callers by the address the trusted proxy saw, whatever the client writes in X-Forwarded-For', async () => {
      const limited = await fixture.gateway({ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '3', TRUSTED_PROXY_HOPS: '1' });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const spoofed = { 'x-forwarded-for': `198.51.100.${i}, 203.0.113.9` };
        statuses.push((await postGraphQL(limited.graphqlUrl, '{ __typename }', { headers: spoofed })).status);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      const otherClient = await postGraphQL(limited.graphqlUrl, '{ __typename }', { headers: { 'x-forwarded-for': '203.0.113.10' } });
      expect(otherClient.status).toBe(200);
    });

    it('ignores X-Forwarded-For entirely without trusted proxies', async () => {
      const limited = await fixture.gateway({ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '2' });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++)
        statuses.push(
          (await postGraphQL(limited.graphqlUrl, '{ __typename }', { headers: { 'x-forwarded-for': `198.51.100.${i}` } })).status,
        );
      expect(statuses).toEqual([200, 200, 429]);
    });

    it('gives new accounts from one address no fresh budget, and limits a tenant across its users', async () => {
      const perAddress = await fixture.gateway({ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '3' });
      const fromOneAddress: number[] = [];
      for (let i = 0; i < 4; i++)
        fromOneAddress.push(
          (await postGraphQL(perAddress.graphqlUrl, '{ __typename }', { token: await token(`user-${i}`, `tenant-${i}`) })).status,
        );
      expect(fromOneAddress).toEqual([200, 200, 200, 429]);

      const perTenant = await fixture.gateway({ RATE_LIMIT_PER_TENANT_PER_MINUTE: '2' });
      const oneTenant: number[] = [];
      for (let i = 0; i < 3; i++)
        oneTenant.push(
          (await postGraphQL(perTenant.graphqlUrl, '{ __typename }', { token: await token(`member-${i}`, 'tenant-a') })).status,
        );
      expect(oneTenant).toEqual([200, 200, 429]);
      expect((await postGraphQL(perTenant.graphqlUrl, '{ __typename }', { token: await token('member-9', 'tenant-b') })).status).toBe(200);
    });

    it('counts a graphql-sse reservation as a request and a connection, and frees an unused one after its timeout', async () => {
      const capped = await fixture.gateway({ MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS: '1', SSE_RESERVATION_TIMEOUT_MS: '100' });
      const reserve = (target: RunningGateway) => fetch(target.graphqlUrl, { method: 'PUT' });
      const first = await reserve(capped);
      const token = await first.text();
      const second = await reserve(capped);

      expect(first.status).toBe(201);
      expect(second.status).toBe(429);
      expect(await second.json()).toEqual({
        errors: [{ message: 'Too many anonymous connections from this address', extensions: { code: 'RATE_LIMITED' } }],
      });
      await expect.poll(async () => (await reserve(capped)).status, { timeout: 5000 }).toBe(201);
      const dropped = await fetch(`${capped.graphqlUrl}?token=${token}`, { headers: { accept: 'text/event-stream' } });
      expect(dropped.status).toBe(404);
      // An empty token names no reservation: the stream takes a slot of its own, and there is none left.
      const emptyToken = await fetch(`${capped.graphqlUrl}?token=&query=${encodeURIComponent('{ __typename }')}`, {
        headers: { accept: 'text/event-stream' },
      });
      expect(emptyToken.status).toBe(429);

      const limited = await fixture.gateway({ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '2' });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await reserve(limited)).status);
      expect(statuses).toEqual([201, 201, 429]);
    });

    it('drops an event stream whose client stops reading once too much waits for it, freeing its connection slot', async () => {
      const capped = await fixture.gateway({ WS_MAX_BUFFERED_BYTES: String(64 * 1024), RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000' });
      const token = await (await fetch(capped.graphqlUrl, { method: 'PUT' })).text();
      const connections = () => metric(capped, /^gateway_websocket_connections[ {]/);
      const stream = await new Promise<IncomingMessage>((resolve, reject) =>
        get(`${capped.graphqlUrl}?token=${token}`, { headers: { accept: 'text/event-stream' } }, resolve).once('error', reject),
      );
      // The client reads nothing more: what the gateway sends it piles up in the kernel's buffers, then the gateway's.
      stream.pause();
      stream.on('error', () => undefined);

      const introspection = '{ __schema { types { name description fields { name description args { name } } } } }';
      let sent = 0;
      // Bounded: loopback buffers hold a few megabytes, and each answer is kilobytes.
      while (sent < 4000 && (await connections()) > 0) {
        const batch = Array.from({ length: 25 }, () =>
          fetch(capped.graphqlUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-graphql-event-stream-token': token },
            body: JSON.stringify({ query: introspection, extensions: { operationId: `q${sent++}` } }),
          }),
        );
        await Promise.all(batch);
      }

      expect(await connections()).toBe(0);
    });

    it('answers an event stream request whose body is not JSON as plain HTTP does', async () => {
      const response = await fetch(gateway.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: '{ "query": ',
      });

      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }],
      });
    });

    it('drops a reservation whose stream never connects once what graphql-sse holds for it passes the limit', async () => {
      const capped = await fixture.gateway({ WS_MAX_BUFFERED_BYTES: String(8 * 1024) });
      const token = await (await fetch(capped.graphqlUrl, { method: 'PUT' })).text();
      const introspection = '{ __schema { types { name description fields { name description args { name } } } } }';
      const send = (operationId: string) =>
        fetch(capped.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-graphql-event-stream-token': token },
          body: JSON.stringify({ query: introspection, extensions: { operationId } }),
        });

      const statuses: number[] = [];
      // Bounded: each answer is kilobytes.
      while (statuses.length < 50 && statuses.at(-1) !== 404) statuses.push((await send(`q${statuses.length}`)).status);

      expect(statuses.at(-1)).toBe(404);
      expect(statuses.slice(0, -1).every((status) => status === 202)).toBe(true);
      expect(await metric(capped, /^gateway_websocket_connections[ {]/)).toBe(0);
    });

    it('says which budget ran out and when to retry', async () => {
      const limited = await fixture.gateway({ RATE_LIMIT_PER_MINUTE: '1' });
      const caller = await token('impatient');
      await postGraphQL(limited.graphqlUrl, '{ __typename }', { token: caller });
      const refused = await postGraphQL(limited.graphqlUrl, '{ __typename }', { token: caller });
      expect(refused.status).toBe(429);
      // The window started with the first request, so the wait left is a minute less the time since then.
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(50);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(refused.errors).toEqual([
        {
          message: `Rate limit of 1 requests per minute per user exceeded; retry in ${retryAfter} s`,
          extensions: { code: 'RATE_LIMITED' },
        },
      ]);
      expect(refused.headers.get('ratelimit-limit')).toBe('1');
    });
  });

  describe('under load it cannot keep up with', () => {
    const HOT = { utilization: 1, lateMs: 200, concurrency: 50 };
    const COOL = { utilization: 0.2, lateMs: 0, concurrency: 1 };

    it('sheds new documents and large bodies with 503 while it keeps serving the documents it knows', async () => {
      let reading = COOL;
      let clock = 0;
      const shedding = await fixture.gateway({ LOAD_SHEDDING_DELAY_MS: '50' }, { readLoop: () => reading, now: () => clock });
      const known = '{ topProducts(first: 1) { upc } }';
      expect((await postGraphQL(shedding.graphqlUrl, known)).status).toBe(200);

      reading = HOT;
      shedding.overload.sample();
      expect(shedding.overload.overloaded).toBe(true);
      expect((await postGraphQL(shedding.graphqlUrl, known)).data).toEqual({ topProducts: [{ upc: '1' }] });
      const novel = await postGraphQL(shedding.graphqlUrl, '{ topProducts(first: 2) { upc } }');
      expect({ status: novel.status, retryAfter: novel.headers.get('retry-after'), code: novel.errors?.[0]?.extensions?.code }).toEqual({
        status: 503,
        retryAfter: '1',
        code: 'SERVICE_UNAVAILABLE',
      });
      const large = await fetch(shedding.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: `${known} # ${'x'.repeat(20_000)}` }),
      });
      expect({ status: large.status, connection: large.headers.get('connection') }).toEqual({ status: 503, connection: 'close' });
      const socket = await ProtocolSession.open(shedding.graphqlUrl);
      await socket.init();
      expect((await socket.run({ query: '{ topProducts(first: 3) { upc } }' })).errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect((await socket.run({ query: known })).results[0]?.data).toEqual({ topProducts: [{ upc: '1' }] });
      socket.close();

      reading = COOL;
      clock += 1000;
      shedding.overload.sample();
      expect(shedding.overload.overloaded).toBe(false);
      expect((await postGraphQL(shedding.graphqlUrl, '{ topProducts(first: 2) { upc } }')).status).toBe(200);
    });
  });

  describe('the GraphQL over HTTP audit of graphql-http', () => {
    it('passes every MUST of the specification', async () => {
      const musts = serverAudits({ url: gateway.graphqlUrl }).filter((audit) => audit.name.startsWith('MUST'));
      const failures: string[] = [];
      for (const audit of musts) {
        const result = await audit.fn();
        if (result.status !== 'ok') failures.push(`${audit.name}: ${result.reason}`);
      }
      expect(musts.length).toBeGreaterThanOrEqual(13);
      expect(failures).toEqual([]);
    });
  });

  describe('in production', () => {
    const PRODUCTION = { NODE_ENV: 'production', INTERNAL_SECRET: 'edge-test-internal-secret-edge-test-internal' };

    it('refuses to start on development secrets or without them', () => {
      expect(() => loadGatewayConfig({ NODE_ENV: 'production' })).toThrow(
        /JWT_SECRET: is required when NODE_ENV=production[\s\S]*INTERNAL_SECRET: is required/,
      );
    });

    it('turns introspection off, hides suggestions, and serves neither the explorer nor public metrics', async () => {
      const production = await fixture.gateway(PRODUCTION);
      const introspection = await postGraphQL(production.graphqlUrl, '{ __schema { types { name } } }');
      expect(introspection.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const typo = await postGraphQL(production.graphqlUrl, '{ topProduct { upc } }');
      expect(typo.errors?.[0]?.message).toBe('Cannot query field "topProduct" on type "Query".');
      expect((await fetch(`${production.url}/metrics`)).status).toBe(404);
      expect((await fetch(`${production.url}/`, { headers: { accept: 'text/html' } })).status).toBe(404);
      expect((await fetch(`${production.url}/health/ready`)).status).toBe(200);

      const development = await postGraphQL(gateway.graphqlUrl, '{ topProduct { upc } }');
      expect(development.errors?.[0]?.message).toBe('Cannot query field "topProduct" on type "Query". Did you mean "topProducts"?');
    });

    it('serves metrics on the admin listener, and on the public port only with the metrics token', async () => {
      const production = await fixture.gateway({ ...PRODUCTION, ADMIN_PORT: '0', METRICS_TOKEN: 'a-metrics-token-for-prometheus' });
      expect(
        (await fetch(`${production.adminUrl}/metrics`, { headers: { authorization: 'Bearer a-metrics-token-for-prometheus' } })).status,
      ).toBe(200);
      expect((await fetch(`${production.url}/metrics`)).status).toBe(401);
      const scraped = await fetch(`${production.url}/metrics`, { headers: { authorization: 'Bearer a-metrics-token-for-prometheus' } });
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toContain('gateway_operations_refused_total');
    });
  });
});
