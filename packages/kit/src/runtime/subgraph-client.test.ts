import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse, print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, errorResponseBody } from '../platform/errors.ts';
import { Role, verifyIdentity, type Identity } from '../platform/identity.ts';
import { callSubgraph, SubgraphRequestError, type SubgraphRequest, type TypedDocumentNode } from './subgraph-client.ts';

const SECRET = 'subgraph-client-test-secret-subgraph-client';
const caller: Identity = { kind: 'user', userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Member] };

interface Received {
  identity: Identity | undefined;
  body: { query: string; variables: Record<string, unknown> };
}

let server: http.Server;
let origin: string;
const received: Received[] = [];

// A GraphQL server whose answer each path chooses, checking identities the way every subgraph does.
beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const verification = verifyIdentity((name) => req.headers[name] as string | undefined, SECRET);
      received.push({
        identity: verification.ok ? verification.identity : undefined,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
      const reply = (status: number, body: string, contentType = 'application/json') =>
        res.writeHead(status, { 'content-type': contentType }).end(body);
      switch (req.url) {
        case '/graphql':
          if (!verification.ok) return reply(401, errorResponseBody(ErrorCode.Unauthenticated, 'Identity signature is invalid'));
          return reply(200, JSON.stringify({ data: { echo: received.at(-1)?.body.variables } }));
        case '/bad-input':
          return reply(
            200,
            JSON.stringify({ data: null, errors: [{ message: 'No user x', extensions: { code: 'BAD_USER_INPUT', field: 'userId' } }] }),
          );
        case '/internal-error':
          return reply(
            200,
            JSON.stringify({ data: null, errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }),
          );
        case '/unknown-code':
          return reply(200, JSON.stringify({ data: null, errors: [{ message: 'odd', extensions: { code: 'SOMETHING_ELSE' } }] }));
        case '/rate-limited':
          return reply(
            200,
            JSON.stringify({
              data: null,
              errors: [{ message: 'Too many requests', extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 12 } }],
            }),
          );
        case '/overloaded':
          res.setHeader('retry-after', '30');
          return reply(503, '<html>Service Unavailable</html>', 'text/html');
        case '/proxy-down':
          return reply(503, '<html>Service Unavailable</html>', 'text/html');
        case '/no-data':
          return reply(200, JSON.stringify({}));
        case '/hang':
          return;
        default:
          return reply(404, 'not found', 'text/plain');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function request(path: string, overrides: Partial<SubgraphRequest> = {}): SubgraphRequest {
  return {
    url: `${origin}${path}`,
    query: 'query Echo($value: String) { echo(value: $value) }',
    variables: { value: 'hi' },
    identity: caller,
    internalSecret: SECRET,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<SubgraphRequestError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(SubgraphRequestError);
  return error as SubgraphRequestError;
}

describe('callSubgraph', () => {
  it('sends the query and variables with an identity the subgraph verifies, and resolves to the data', async () => {
    await expect(callSubgraph(request('/graphql'))).resolves.toEqual({ echo: { value: 'hi' } });
    expect(received.at(-1)).toEqual({ identity: caller, body: { query: request('').query, variables: { value: 'hi' } } });
  });

  it('sends a typed document (as codegen writes them) as its printed text, and resolves to its typed result', async () => {
    const echo: TypedDocumentNode<{ echo: { value: string } }, { value: string }> = parse(
      'query TypedEcho($value: String) { echo(value: $value) }',
    );
    const data = await callSubgraph({ ...request('/graphql'), query: echo, variables: { value: 'hi' } });
    expect(data.echo.value).toBe('hi');
    expect(received.at(-1)?.body).toEqual({ query: print(echo), variables: { value: 'hi' } });
  });

  it('fails for good, as UNAUTHENTICATED, when the subgraph does not accept the signature', async () => {
    const error = await failure(callSubgraph(request('/graphql', { internalSecret: 'another secret, long enough to look like one' })));
    expect(error).toMatchObject({
      code: ErrorCode.Unauthenticated,
      retryable: false,
      status: 401,
      message: 'Identity signature is invalid',
    });
  });

  it('fails for good with the code and message of a GraphQL error such as BAD_USER_INPUT', async () => {
    const error = await failure(callSubgraph(request('/bad-input')));
    expect(error).toMatchObject({ code: ErrorCode.BadUserInput, retryable: false, status: 200, message: 'No user x' });
  });

  it('fails retryably on an internal error, which may not happen again', async () => {
    const error = await failure(callSubgraph(request('/internal-error')));
    expect(error).toMatchObject({ code: ErrorCode.InternalServerError, retryable: true });
  });

  it('reads a code outside the shared list as an internal error', async () => {
    const error = await failure(callSubgraph(request('/unknown-code')));
    expect(error).toMatchObject({ code: ErrorCode.InternalServerError, message: 'odd' });
  });

  it('carries how long a rate-limited service asked to wait, from its error or its Retry-After header', async () => {
    expect(await failure(callSubgraph(request('/rate-limited')))).toMatchObject({
      code: ErrorCode.RateLimited,
      retryable: true,
      retryAfterSeconds: 12,
    });
    expect(await failure(callSubgraph(request('/overloaded')))).toMatchObject({ retryable: true, status: 503, retryAfterSeconds: 30 });
    expect((await failure(callSubgraph(request('/bad-input')))).retryAfterSeconds).toBeUndefined();
  });

  it('fails retryably when something other than GraphQL answers with a 5xx', async () => {
    const error = await failure(callSubgraph(request('/proxy-down')));
    expect(error).toMatchObject({ code: ErrorCode.ServiceUnavailable, retryable: true, status: 503 });
  });

  it('fails for good when something other than GraphQL answers with a 4xx', async () => {
    const error = await failure(callSubgraph(request('/nowhere')));
    expect(error).toMatchObject({ code: ErrorCode.BadRequest, retryable: false, status: 404 });
  });

  it('fails when a response has neither data nor errors', async () => {
    const error = await failure(callSubgraph(request('/no-data')));
    expect(error.message).toBe('the service answered 200 without data');
  });

  it('fails retryably when nothing listens, without naming the address', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/graphql`;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(callSubgraph(request('', { url })));
    expect(error).toMatchObject({ code: ErrorCode.ServiceUnavailable, retryable: true, status: undefined });
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).not.toContain('127.0.0.1');
  });

  it('gives up retryably when the subgraph does not answer in time', async () => {
    const error = await failure(callSubgraph(request('/hang', { timeoutMs: 50 })));
    expect(error).toMatchObject({ code: ErrorCode.ServiceUnavailable, retryable: true, message: 'the request failed: timed out' });
  });

  it('stops when the caller aborts', async () => {
    const error = await failure(callSubgraph(request('/hang', { signal: AbortSignal.timeout(20) })));
    expect(error).toMatchObject({ retryable: true });
  });
});
