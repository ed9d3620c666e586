import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ANONYMOUS, ErrorCode } from '@nexusflow/kit/core';
import { GraphQLError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayContext } from '../src/context.ts';
import { SubgraphDataSource } from '../src/subgraph-data-source.ts';

const SECRET = 'subgraph-data-source-test-secret-32-chars';

/** A subgraph that answers by path, the way real servers and proxies answer. */
function serve(routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void>): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => routes[req.url ?? '']?.(req, res));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const process = (source: SubgraphDataSource, deadline?: AbortSignal) =>
  source.process({
    kind: 'incoming operation',
    request: { query: '{ topProducts { name } }' },
    context: { identity: ANONYMOUS, ...(deadline ? { deadline } : {}) } as unknown as GatewayContext,
  } as Parameters<SubgraphDataSource['process']>[0]);

describe('the subgraph client', () => {
  let server: Server;
  let base: string;
  /** Responses that never end, released when the test ends. */
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    const answer = Buffer.from(JSON.stringify({ data: { topProducts: [{ name: 'Blåbær — 青い' }] } }));
    server = await serve({
      '/whole': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
        res.end(answer);
      },
      // Chunked, and cut inside a multi-byte character: the text is decoded once the body is whole.
      '/chunked': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const cut = answer.indexOf(Buffer.from('青')) + 1;
        res.write(answer.subarray(0, cut));
        setImmediate(() => res.end(answer.subarray(cut)));
      },
      '/bom': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), answer]));
      },
      '/bad-gateway': (_req, res) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('no instance is up');
      },
      '/forbidden': (_req, res) => {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'not you' }));
      },
      '/refused': (_req, res) => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            errors: [{ message: 'DateTime must be an ISO-8601 date-time string', extensions: { code: 'BAD_USER_INPUT' } }],
          }),
        );
      },
      '/out-of-step': (_req, res) => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            errors: [{ message: 'Cannot query field "gone" on type "Query".', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }],
          }),
        );
      },
      '/refused-without-graphql': (_req, res) => {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('bad request');
      },
      '/not-json': (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>a captive portal</html>');
      },
      '/hangs': (_req, res) => void held.push(res),
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const res of held) res.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const source = (path: string) => new SubgraphDataSource(`${base}${path}`, 'products', SECRET);

  it('reads a whole answer, a chunked one cut inside a character, and one that starts with a byte order mark alike', async () => {
    const expected = { data: { topProducts: [{ name: 'Blåbær — 青い' }] } };
    expect(await process(source('/whole'))).toEqual(expected);
    expect(await process(source('/chunked'))).toEqual(expected);
    expect(await process(source('/bom'))).toEqual(expected);
  });

  it('reports a subgraph behind a proxy that has no instance up as unavailable, with its name', async () => {
    const failure = await process(source('/bad-gateway')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GraphQLError);
    expect((failure as GraphQLError).extensions.code).toBe(ErrorCode.ServiceUnavailable);
    expect((failure as GraphQLError).message).toBe('The products service is unavailable');
  });

  it('gives an HTTP error status as stock does, with the code it implies', async () => {
    const failure = (await process(source('/forbidden')).catch((error: unknown) => error)) as GraphQLError;
    expect(failure.message).toBe('403: Forbidden');
    expect(failure.extensions.code).toBe('FORBIDDEN');
    expect(failure.extensions.response).toMatchObject({ status: 403, body: { message: 'not you' } });
  });

  it('passes on the errors of a request the subgraph refused with 400 and a GraphQL answer, with their own codes', async () => {
    expect(await process(source('/refused'))).toEqual({
      errors: [{ message: 'DateTime must be an ISO-8601 date-time string', extensions: { code: 'BAD_USER_INPUT' } }],
    });
    const failure = (await process(source('/refused-without-graphql')).catch((error: unknown) => error)) as GraphQLError;
    expect(failure.message).toBe('400: Bad Request');
    // A subgraph out of step with the gateway's plan is the gateway's failure, reported as stock reports it.
    const outOfStep = (await process(source('/out-of-step')).catch((error: unknown) => error)) as GraphQLError;
    expect(outOfStep.message).toBe('400: Bad Request');
  });

  it('reports an answer that is not JSON as the subgraph being unavailable', async () => {
    const failure = (await process(source('/not-json')).catch((error: unknown) => error)) as GraphQLError;
    expect(failure.extensions.code).toBe(ErrorCode.ServiceUnavailable);
  });

  it('stops waiting for a subgraph when the operation’s deadline passes, before or during the fetch', async () => {
    const during = new AbortController();
    const pending = process(source('/hangs'), during.signal).catch((error: unknown) => error);
    await new Promise<void>((resolve) => {
      const waitForRequest = () => (held.length > 0 ? resolve() : setImmediate(waitForRequest));
      waitForRequest();
    });
    during.abort();
    expect(((await pending) as GraphQLError).extensions.code).toBe(ErrorCode.ServiceUnavailable);

    const before = new AbortController();
    before.abort();
    const failure = (await process(source('/hangs'), before.signal).catch((error: unknown) => error)) as GraphQLError;
    expect(failure.extensions.code).toBe(ErrorCode.ServiceUnavailable);
  });
});
