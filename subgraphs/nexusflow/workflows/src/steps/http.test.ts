import dns from 'node:dns';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isPublicAddress, nonPublicRangeOf, nonPublicRangeOfHost } from './address-policy.ts';
import { ERROR_BODY_EXCERPT_CHARS, httpStep, type HttpStepOptions } from './http.ts';
import { stepContext, stepFailure } from './test-context.ts';
import type { StepContext } from './types.ts';

interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: http.Server;
let origin: string;
let port: number;
const received: ReceivedRequest[] = [];
/** Resolved when a request reaches /hang (never answered) or /trickle (answered in part). */
let hangArrived: PromiseWithResolvers<void>;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://test');
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = url.pathname.match(/^\/status\/(\d+)$/)?.[1];
      if (status) {
        res.writeHead(Number(status), { 'content-type': 'text/plain', 'retry-after': '7' }).end(url.searchParams.get('body') ?? 'nope');
      } else if (url.pathname === '/hang') {
        hangArrived.resolve();
      } else if (url.pathname === '/trickle') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part', () => hangArrived.resolve());
      } else if (url.pathname === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(Number(url.searchParams.get('bytes'))));
      } else if (url.pathname === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-trace': 'abc' }).end('plain words');
      } else if (url.pathname === '/not-json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{oops');
      } else {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'Set-Cookie': ['a=1', 'b=2'] });
        res.end(JSON.stringify({ path: url.pathname, query: Object.fromEntries(url.searchParams), items: [{ id: 1 }] }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

afterEach(() => {
  received.length = 0;
  vi.restoreAllMocks();
});

/** Parses `config` as the registry would, then runs the step. */
async function run(config: unknown, context: Partial<StepContext> = {}, options: HttpStepOptions = { allowPrivateNetworks: true }) {
  const step = httpStep(options);
  return step.execute(step.config.parse(config), stepContext(context));
}

/** Runs a step whose URL comes from the execution's input, which only the step itself can check, when it runs. */
function runWithUrlFromInput(url: string, options?: HttpStepOptions) {
  return run({ url: '{{input.url}}' }, { input: { url } }, options);
}

/** The problems the registry would report when a workflow with this config is saved; empty when it is accepted. */
function problemsWhenSaved(config: unknown, options: HttpStepOptions = {}): string[] {
  const result = httpStep(options).config.safeParse(config);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

const ALLOW_HINT = '(set ALLOW_PRIVATE_NETWORK_STEPS=true on the workflows service to allow them)';

function mockLookup(addresses: Array<{ address: string; family: number }>) {
  return vi.spyOn(dns.promises, 'lookup').mockResolvedValue(addresses as never);
}

describe('the http step', () => {
  it('outputs the status, lower-case headers and parsed JSON body of a successful response', async () => {
    const outcome = await run({ url: `${origin}/things` });
    expect(outcome).toEqual({
      kind: 'completed',
      output: {
        status: 200,
        headers: expect.objectContaining({ 'content-type': 'application/json; charset=utf-8', 'set-cookie': 'a=1, b=2' }),
        body: { path: '/things', query: {}, items: [{ id: 1 }] },
      },
    });
  });

  it('outputs the text of a response that is not JSON', async () => {
    const outcome = await run({ url: `${origin}/text` });
    expect(outcome).toMatchObject({ output: { status: 200, headers: { 'x-trace': 'abc' }, body: 'plain words' } });
  });

  it('renders the URL, headers and body from the execution', async () => {
    await run(
      {
        method: 'POST',
        url: `${origin}/users/{{steps.lookup.output.id}}?email={{input.email}}`,
        headers: { Authorization: 'Bearer {{input.token}}' },
        body: { email: '{{input.email}}', tags: '{{input.tags}}' },
      },
      { input: { email: 'ada@example.com', token: 't0k3n', tags: ['vip'] }, steps: { lookup: { output: { id: 42 } } } },
    );
    expect(received).toEqual([
      expect.objectContaining({
        method: 'POST',
        url: '/users/42?email=ada@example.com',
        body: '{"email":"ada@example.com","tags":["vip"]}',
      }),
    ]);
    expect(received[0]?.headers).toMatchObject({ authorization: 'Bearer t0k3n', 'content-type': 'application/json' });
  });

  it('sends a body that renders to a string as plain text', async () => {
    await run({ method: 'PUT', url: `${origin}/note`, body: 'Hello {{input.name}}' }, { input: { name: 'Ada' } });
    expect(received[0]).toMatchObject({ method: 'PUT', body: 'Hello Ada', headers: { 'content-type': 'text/plain; charset=utf-8' } });
  });

  it('sends the idempotency key and user agent with every request', async () => {
    await run({ url: `${origin}/a` }, { idempotencyKey: 'exec-9:notify' }, { allowPrivateNetworks: true, userAgent: 'Tester/1' });
    expect(received[0]?.headers).toMatchObject({ 'idempotency-key': 'exec-9:notify', 'user-agent': 'Tester/1' });
  });

  it('fails retryably on a 5xx, with the status and the start of the body', async () => {
    const error = await stepFailure(run({ url: `${origin}/status/500?body=${'e'.repeat(5000)}` }));
    expect(error.retryable).toBe(true);
    expect(error.details).toMatchObject({ status: 500, body: `${'e'.repeat(ERROR_BODY_EXCERPT_CHARS)}…` });
  });

  it('names the method, host, path and status in its error, with the start of the response body', async () => {
    const declined = JSON.stringify({ error: { type: 'card_error', message: 'Your card was declined.' } });
    const error = await stepFailure(
      run({ method: 'POST', url: `${origin}/status/402?body=${encodeURIComponent(declined)}`, body: { amount: 5 } }),
    );
    expect(error.message).toBe(`POST ${origin}/status/402 responded with status 402: ${declined}`);
  });

  it('leaves the query string and credentials out of its error, since they may carry secrets', async () => {
    const error = await stepFailure(run({ url: `http://ada:hunter2@127.0.0.1:${port}/status/401?api_key=sk_live_123&body=denied` }));
    expect(error.message).toBe(`GET ${origin}/status/401 responded with status 401: denied`);
    expect(error.message).not.toMatch(/sk_live_123|hunter2|api_key/);
  });

  it(`keeps at most ${ERROR_BODY_EXCERPT_CHARS} characters of the body in its error, on one line`, async () => {
    const body = `Service unavailable\n\n\t${'x'.repeat(1000)}`;
    const error = await stepFailure(run({ url: `${origin}/status/503?body=${encodeURIComponent(body)}` }));
    const [, excerpt = ''] = error.message.split('responded with status 503: ');
    expect(excerpt).toBe(`Service unavailable ${'x'.repeat(ERROR_BODY_EXCERPT_CHARS - 'Service unavailable '.length)}…`);
  });

  it('says so when a failed response has no body', async () => {
    const error = await stepFailure(run({ method: 'DELETE', url: `${origin}/status/500?body=` }));
    expect(error.message).toBe(`DELETE ${origin}/status/500 responded with status 500 and an empty body`);
  });

  it('fails retryably on a 429 and passes on Retry-After', async () => {
    const error = await stepFailure(run({ url: `${origin}/status/429` }));
    expect(error.retryable).toBe(true);
    expect(error.details).toEqual({ status: 429, body: 'nope', retryAfter: '7' });
  });

  it('fails for good on a 404', async () => {
    const error = await stepFailure(run({ url: `${origin}/status/404?body=missing` }));
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ status: 404, body: 'missing' });
  });

  it('treats the statuses in expectStatus as success and any other as failure', async () => {
    await expect(run({ url: `${origin}/status/404`, expectStatus: [404] })).resolves.toMatchObject({
      output: { status: 404, body: 'nope' },
    });
    const error = await stepFailure(run({ url: `${origin}/status/200`, expectStatus: [201] }));
    expect(error.retryable).toBe(false);
  });

  it('does not follow redirects', async () => {
    const error = await stepFailure(run({ url: `${origin}/status/302` }));
    expect(error).toMatchObject({ retryable: false, details: { status: 302 } });
    expect(received).toHaveLength(1);
  });

  it('refuses a response body larger than the limit', async () => {
    const error = await stepFailure(run({ url: `${origin}/big?bytes=100000` }, {}, { allowPrivateNetworks: true, maxResponseBytes: 1000 }));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/larger than 1000 bytes/);
  });

  it('accepts a response body exactly at the limit', async () => {
    await expect(
      run({ url: `${origin}/big?bytes=1000` }, {}, { allowPrivateNetworks: true, maxResponseBytes: 1000 }),
    ).resolves.toMatchObject({
      output: { body: 'x'.repeat(1000) },
    });
  });

  it('fails for good when a JSON response is not valid JSON', async () => {
    const error = await stepFailure(run({ url: `${origin}/not-json` }));
    expect(error).toMatchObject({ retryable: false, details: { status: 200, body: '{oops' } });
  });

  it('fails retryably when cancelled while waiting for the response', async () => {
    hangArrived = Promise.withResolvers();
    const controller = new AbortController();
    const pending = run({ url: `${origin}/hang` }, { signal: controller.signal });
    await hangArrived.promise;
    controller.abort();
    const error = await stepFailure(pending);
    expect(error).toMatchObject({ message: 'timed out or cancelled', retryable: true });
  });

  it('fails retryably when cancelled while the body is arriving', async () => {
    hangArrived = Promise.withResolvers();
    const controller = new AbortController();
    const pending = run({ url: `${origin}/trickle` }, { signal: controller.signal });
    await hangArrived.promise;
    controller.abort();
    const error = await stepFailure(pending);
    expect(error).toMatchObject({ message: 'timed out or cancelled', retryable: true });
  });

  it('fails retryably without calling anyone when already cancelled', async () => {
    const error = await stepFailure(run({ url: `${origin}/a` }, { signal: AbortSignal.abort() }));
    expect(error).toMatchObject({ message: 'timed out or cancelled', retryable: true });
    expect(received).toHaveLength(0);
  });

  it('fails retryably when the connection is refused', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await stepFailure(run({ url: `http://127.0.0.1:${closedPort}/orders?page=2` }));
    expect(error).toMatchObject({ retryable: true, details: { code: 'ECONNREFUSED' } });
    expect(error.message).toMatch(new RegExp(`^GET http://127\\.0\\.0\\.1:${closedPort}/orders failed: `));
  });

  it.each(['ftp://example.com/file', 'file:///etc/passwd', 'data:text/plain,hi', 'not a url'])(
    'refuses %s for good when the URL renders to it',
    async (url) => {
      const error = await stepFailure(runWithUrlFromInput(url));
      expect(error.retryable).toBe(false);
    },
  );

  it('refuses header values that cannot be sent', async () => {
    const error = await stepFailure(
      run({ url: `${origin}/a`, headers: { 'X-Name': '{{input.name}}' } }, { input: { name: 'a\r\nInjected: yes' } }),
    );
    expect(error.retryable).toBe(false);
    expect(received).toHaveLength(0);
  });

  describe('when private networks are not allowed', () => {
    const strict = { allowPrivateNetworks: false };

    it.each([
      ['IPv4 loopback', () => `http://127.0.0.1:${port}/`],
      ['localhost', () => `http://localhost:${port}/`],
      ['IPv6 loopback', () => `http://[::1]:${port}/`],
      ['IPv4-mapped IPv6 loopback', () => `http://[::ffff:127.0.0.1]:${port}/`],
      ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
      ['a private network', () => 'https://10.1.2.3/'],
    ])('refuses %s for good without connecting', async (_name, url) => {
      const error = await stepFailure(runWithUrlFromInput(url(), strict));
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(/^refused to call .+: (loopback|link-local|private network) addresses are blocked/);
      expect(received).toHaveLength(0);
    });

    it('says which address it refused, why, and which setting allows it', async () => {
      const error = await stepFailure(runWithUrlFromInput('https://10.0.0.5/admin', strict));
      expect(error.message).toBe(`refused to call 10.0.0.5: private network addresses are blocked ${ALLOW_HINT}`);
    });

    it('names both the host and the address it resolved to', async () => {
      const error = await stepFailure(runWithUrlFromInput(`http://localhost:${port}/`, strict));
      expect(error.message).toMatch(new RegExp(`^refused to call localhost \\((127\\.0\\.0\\.1|::1)\\): loopback addresses are blocked`));
    });

    it('refuses a host when any of its addresses is private', async () => {
      mockLookup([
        { address: '93.184.216.34', family: 4 },
        { address: '10.0.0.8', family: 4 },
      ]);
      const error = await stepFailure(run({ url: 'https://mixed.example/' }, {}, strict));
      expect(error).toMatchObject({ retryable: false, details: { host: 'mixed.example', addresses: ['10.0.0.8'] } });
      expect(error.message).toBe(`refused to call mixed.example (10.0.0.8): private network addresses are blocked ${ALLOW_HINT}`);
    });

    it('is the default', async () => {
      const error = await stepFailure(runWithUrlFromInput(`${origin}/`, {}));
      expect(error.message).toBe(`refused to call 127.0.0.1: loopback addresses are blocked ${ALLOW_HINT}`);
    });
  });

  it('connects to the address it vetted instead of resolving the host again', async () => {
    const lookup = mockLookup([{ address: '127.0.0.1', family: 4 }]);
    // pinned.example exists in no DNS, so the request can only arrive if the connection used the vetted address.
    await run({ url: `http://pinned.example:${port}/pinned` });
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(received[0]).toMatchObject({ url: '/pinned', headers: { host: `pinned.example:${port}` } });
  });
});

describe("checking an http step's URL when its workflow is saved", () => {
  it.each([
    ['ftp://example.com/file', 'url: only http and https URLs are allowed, not ftp:'],
    ['file:///etc/passwd', 'url: only http and https URLs are allowed, not file:'],
    ['FTP://{{input.host}}/report.csv', 'url: only http and https URLs are allowed, not ftp:'],
    ['mailto:{{input.email}}', 'url: only http and https URLs are allowed, not mailto:'],
    ['not a url', 'url: is not a valid URL'],
    ['http://exa mple.com/{{input.path}}', 'url: is not a valid URL'],
  ])('refuses %s', (url, problem) => {
    expect(problemsWhenSaved({ url }, { allowPrivateNetworks: true })).toEqual([problem]);
  });

  it.each([
    '{{input.url}}',
    '{{input.base}}/orders',
    'https://{{input.host}}/orders',
    'http{{input.secure}}://example.com/',
    'http://10.0.0.{{input.n}}/',
  ])('leaves %s, whose scheme or host a placeholder decides, to the run', (url) => {
    expect(problemsWhenSaved({ url })).toEqual([]);
  });

  it.each([
    ['http://127.0.0.1:8080/hook', '127.0.0.1', 'loopback'],
    ['http://0x7f.1/hook', '127.0.0.1', 'loopback'],
    ['http://localhost/hook', 'localhost', 'loopback'],
    ['http://api.localhost./hook', 'api.localhost.', 'loopback'],
    ['http://[::1]/hook', '[::1]', 'loopback'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254', 'link-local'],
    ['https://10.0.0.5/orders/{{input.id}}', '10.0.0.5', 'private network'],
    ['https://[fd12:3456::1]:8443/{{input.path}}', '[fd12:3456::1]', 'private network'],
  ])('refuses %s, which calls a non-public address, naming it and the setting that allows it', (url, host, range) => {
    expect(problemsWhenSaved({ url })).toEqual([`url: would call ${host}: ${range} addresses are blocked ${ALLOW_HINT}`]);
  });

  it('accepts literal private addresses when private networks are allowed', () => {
    expect(problemsWhenSaved({ url: 'http://127.0.0.1:8080/hook' }, { allowPrivateNetworks: true })).toEqual([]);
    expect(problemsWhenSaved({ url: 'https://10.0.0.5/orders' }, { allowPrivateNetworks: true })).toEqual([]);
  });

  it('accepts host names, which only resolving them when the step runs can judge', () => {
    expect(problemsWhenSaved({ url: 'https://intranet.example.com/orders' })).toEqual([]);
  });
});

describe('nonPublicRangeOf', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.0.0.5', 'private network'],
    ['172.20.1.1', 'private network'],
    ['192.168.1.1', 'private network'],
    ['fd12:3456::1', 'private network'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['example.com', 'unrecognised'],
  ])('puts %s in the %s range', (address, range) => {
    expect(nonPublicRangeOf(address)).toBe(range);
  });

  it('puts public addresses in none', () => {
    expect(nonPublicRangeOf('93.184.216.34')).toBeNull();
    expect(nonPublicRangeOf('2606:4700:4700::1111')).toBeNull();
  });
});

describe('nonPublicRangeOfHost', () => {
  it('judges IP literals, bracketed or not, and localhost names without DNS', () => {
    expect(nonPublicRangeOfHost('[::1]')).toBe('loopback');
    expect(nonPublicRangeOfHost('10.1.2.3')).toBe('private network');
    expect(nonPublicRangeOfHost('LOCALHOST')).toBe('loopback');
    expect(nonPublicRangeOfHost('db.localhost')).toBe('loopback');
    expect(nonPublicRangeOfHost('8.8.8.8')).toBeNull();
  });

  it('leaves other names to DNS, when the step runs', () => {
    expect(nonPublicRangeOfHost('metadata.google.internal')).toBeNull();
    expect(nonPublicRangeOfHost('localhost.example.com')).toBeNull();
  });
});

describe('isPublicAddress', () => {
  it.each(['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('accepts %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'fe80::1%eth0',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '::ffff:10.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:1::',
    'example.com',
  ])('refuses %s', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });
});
