import dns from 'node:dns';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isPublicAddress } from './address-policy.ts';
import { httpStep, type HttpStepOptions } from './http.ts';
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
      expect.objectContaining({ method: 'POST', url: '/users/42?email=ada@example.com', body: '{"email":"ada@example.com","tags":["vip"]}' }),
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
    expect(error.details).toMatchObject({ status: 500, body: expect.stringMatching(/^e{1000}…$/) });
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
    await expect(run({ url: `${origin}/status/404`, expectStatus: [404] })).resolves.toMatchObject({ output: { status: 404, body: 'nope' } });
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
    await expect(run({ url: `${origin}/big?bytes=1000` }, {}, { allowPrivateNetworks: true, maxResponseBytes: 1000 })).resolves.toMatchObject({
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
    const error = await stepFailure(run({ url: `http://127.0.0.1:${closedPort}/` }));
    expect(error).toMatchObject({ retryable: true, details: { code: 'ECONNREFUSED' } });
  });

  it.each(['ftp://example.com/file', 'file:///etc/passwd', 'data:text/plain,hi', 'not a url'])('refuses %s for good', async (url) => {
    const error = await stepFailure(run({ url }));
    expect(error.retryable).toBe(false);
  });

  it('refuses header values that cannot be sent', async () => {
    const error = await stepFailure(run({ url: `${origin}/a`, headers: { 'X-Name': '{{input.name}}' } }, { input: { name: 'a\r\nInjected: yes' } }));
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
      const error = await stepFailure(run({ url: url() }, {}, strict));
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(/non-public address/);
      expect(received).toHaveLength(0);
    });

    it('refuses a host when any of its addresses is private', async () => {
      mockLookup([
        { address: '93.184.216.34', family: 4 },
        { address: '10.0.0.8', family: 4 },
      ]);
      const error = await stepFailure(run({ url: 'https://mixed.example/' }, {}, strict));
      expect(error).toMatchObject({ retryable: false, details: { host: 'mixed.example', addresses: ['10.0.0.8'] } });
    });

    it('is the default', async () => {
      const error = await stepFailure(run({ url: `${origin}/` }, {}, {}));
      expect(error.message).toMatch(/non-public address/);
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
