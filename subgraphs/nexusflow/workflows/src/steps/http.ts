import dns, { type LookupAddress } from 'node:dns';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { z } from 'zod';
import { isPublicAddress, nonPublicRangeOf, nonPublicRangeOfHost, type NonPublicRange } from './address-policy.ts';
import { evaluateTemplate, evaluateTemplateText, literalPrefix } from './template.ts';
import { cancelled, StepError, type StepContext, type StepExecutor } from './types.ts';

export interface HttpStepOptions {
  /**
   * Let steps call loopback, private, link-local and other non-public addresses. Only for self-hosted setups where
   * everyone who can edit a workflow may reach the internal network anyway. Without it, a step whose URL names such
   * an address literally is refused when the workflow is saved, and any other is refused when it resolves to one.
   * @default false
   */
  allowPrivateNetworks?: boolean;
  /**
   * Responses with a larger body fail the step, so one step cannot exhaust the engine's memory.
   * @default 1048576 (1 MiB)
   */
  maxResponseBytes?: number;
  /**
   * Sent as `User-Agent` unless the step's own headers set one.
   * @default 'NexusFlow-Workflows'
   */
  userAgent?: string;
}

const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_USER_AGENT = 'NexusFlow-Workflows';
/**
 * How much of a failed response's body an error carries, in characters: providers say what is wrong in the body, and
 * the error is stored on every failed attempt, so enough for their message and no more.
 */
export const ERROR_BODY_EXCERPT_CHARS = 300;
const ALLOWED_PROTOCOLS: ReadonlySet<string> = new Set(['http:', 'https:']);
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** Scheme and authority, up to and including the character that ends the authority: only then is the host known. */
const AUTHORITY = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*[/?#]/;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const INVALID_HEADER_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;
/**
 * Framing and routing follow from the URL and body, and a workflow that set them could desynchronise the connection;
 * the idempotency key comes from the engine so that retries are recognisable.
 */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'idempotency-key',
]);

export const httpStepConfig = z
  .object({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
    /**
     * Templated. Only http and https URLs are called: a scheme the template fixes is checked when the workflow is
     * saved, one that a placeholder supplies (`{{input.url}}`) when the step runs.
     */
    url: z.string().min(1),
    /** Values are templated. */
    headers: z.record(z.string(), z.string()).optional(),
    /** Templated; sent as is when it renders to a string, otherwise as JSON. */
    body: z.unknown().optional(),
    /** Statuses that count as success. @default any 2xx */
    expectStatus: z.array(z.number().int().min(100).max(599)).min(1).optional(),
  })
  .superRefine((config, ctx) => {
    for (const name of Object.keys(config.headers ?? {})) {
      if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: ['headers', name], message: 'is not a valid header name' });
      else if (RESERVED_HEADERS.has(name.toLowerCase()))
        ctx.addIssue({ code: 'custom', path: ['headers', name], message: 'is set automatically' });
    }
    if (config.method === 'GET' && config.body !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['body'], message: 'GET requests cannot have a body' });
    }
    const url = literalUrlParts(config.url);
    if (!url.ok) ctx.addIssue({ code: 'custom', path: ['url'], message: url.problem });
  });

/**
 * The config of steps that may not call non-public addresses: on top of {@link httpStepConfig}, a host the URL names
 * literally (an IP address, `localhost`) must be public. Names are resolved, and checked again, only when the step runs.
 */
const publicHttpStepConfig = httpStepConfig.superRefine((config, ctx) => {
  const url = literalUrlParts(config.url);
  if (!url.ok || url.hostname === null) return;
  const range = nonPublicRangeOfHost(url.hostname);
  if (range) ctx.addIssue({ code: 'custom', path: ['url'], message: `would call ${url.hostname}: ${blockedBecause(range)}` });
});

export type HttpStepConfig = z.output<typeof httpStepConfig>;

export interface HttpStepOutput {
  status: number;
  /** Lower-case names; repeated headers are joined with ", ". */
  headers: Record<string, string>;
  /** Parsed when the response's content type is JSON, otherwise the text. */
  body: unknown;
}

/**
 * Calls an HTTP endpoint. Redirects are not followed: the step reports them like any other unexpected status, since
 * following one would mean connecting to an address nobody vetted.
 */
export function httpStep(options: HttpStepOptions = {}): StepExecutor<HttpStepConfig> {
  const allowPrivateNetworks = options.allowPrivateNetworks ?? false;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 1) {
    throw new RangeError(`maxResponseBytes must be a positive integer, got ${maxResponseBytes}`);
  }

  return {
    type: 'http',
    description: 'Calls an HTTP endpoint and outputs the status, headers and body of its response.',
    config: allowPrivateNetworks ? httpStepConfig : publicHttpStepConfig,
    async execute(config, context) {
      const { signal } = context;
      let request: string | undefined;
      try {
        if (signal.aborted) throw cancelled();
        const url = parseUrl(await evaluateTemplateText(config.url, context, 'url'));
        request = describeRequest(config.method, url);
        const addresses = await resolveHost(url, allowPrivateNetworks, signal);
        const prepared = await buildRequest(config, context, userAgent);
        const response = await send(url, prepared, addresses, signal, maxResponseBytes);
        return { kind: 'completed', output: interpret(response, config.expectStatus, request, maxResponseBytes) };
      } catch (error) {
        // Whatever failed, a cancelled step reports the cancellation rather than the error it caused.
        if (signal.aborted) throw cancelled();
        if (error instanceof StepError) throw error;
        throw networkError(error, request);
      }
    },
  };
}

function networkError(error: unknown, request = 'request'): StepError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new StepError(`${request} failed: ${message}`, true, code ? { code } : undefined);
}

/**
 * How errors name a request: method, origin and path. Never the query string, where API keys and signatures travel,
 * nor credentials, which `origin` leaves out.
 */
function describeRequest(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}`;
}

function protocolRefusal(protocol: string): string {
  return `only http and https URLs are allowed, not ${protocol}`;
}

function blockedBecause(range: NonPublicRange): string {
  return `${range} addresses are blocked (set ALLOW_PRIVATE_NETWORK_STEPS=true on the workflows service to allow them)`;
}

type LiteralUrlParts = { ok: true; hostname: string | null } | { ok: false; problem: string };

/**
 * What a URL template fixes whatever its placeholders render to: its scheme, which must be http or https, and its
 * host when the authority ends before the first placeholder (null when a placeholder can still change it). A
 * template without placeholders must be a valid URL.
 */
function literalUrlParts(template: string): LiteralUrlParts {
  const prefix = literalPrefix(template);
  if (prefix === template) {
    const url = URL.parse(template);
    if (!url) return { ok: false, problem: 'is not a valid URL' };
    if (!ALLOWED_PROTOCOLS.has(url.protocol)) return { ok: false, problem: protocolRefusal(url.protocol) };
    return { ok: true, hostname: url.hostname };
  }
  const start = prefix.trimStart();
  const scheme = SCHEME.exec(start)?.[0].toLowerCase();
  if (scheme === undefined) return { ok: true, hostname: null };
  if (!ALLOWED_PROTOCOLS.has(scheme)) return { ok: false, problem: protocolRefusal(scheme) };
  const authority = AUTHORITY.exec(start)?.[0];
  if (authority === undefined) return { ok: true, hostname: null };
  const url = URL.parse(authority);
  return url ? { ok: true, hostname: url.hostname } : { ok: false, problem: 'is not a valid URL' };
}

function parseUrl(text: string): URL {
  const url = URL.parse(text);
  if (!url) throw new StepError('url is not a valid URL', false, { url: text });
  if (!ALLOWED_PROTOCOLS.has(url.protocol)) throw new StepError(protocolRefusal(url.protocol), false, { protocol: url.protocol });
  return url;
}

/**
 * Resolves the host once and vets every address it has: a name with one public and one private address would
 * otherwise reach the private one whenever the connection happened to pick it.
 */
async function resolveHost(url: URL, allowPrivateNetworks: boolean, signal: AbortSignal): Promise<LookupAddress[]> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: LookupAddress[];
  try {
    addresses = await abortable(dns.promises.lookup(host, { all: true }), signal);
  } catch (error) {
    if (error instanceof StepError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new StepError(`could not resolve ${host}`, true, code ? { host, code } : { host });
  }
  if (addresses.length === 0) throw new StepError(`could not resolve ${host}`, true, { host });
  if (!allowPrivateNetworks) {
    const refused = addresses.filter(({ address }) => !isPublicAddress(address)).map(({ address }) => address);
    const [first] = refused;
    if (first !== undefined) {
      const target = first === host ? host : `${host} (${first})`;
      throw new StepError(`refused to call ${target}: ${blockedBecause(nonPublicRangeOf(first) ?? 'unrecognised')}`, false, {
        host,
        addresses: refused,
      });
    }
  }
  return addresses;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

interface PreparedRequest {
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

async function buildRequest(config: HttpStepConfig, context: StepContext, userAgent: string): Promise<PreparedRequest> {
  const headers: Record<string, string> = { 'user-agent': userAgent, accept: 'application/json, text/*;q=0.9, */*;q=0.8' };
  for (const [name, template] of Object.entries(config.headers ?? {})) {
    const value = await evaluateTemplateText(template, context, `headers.${name}`);
    if (INVALID_HEADER_VALUE_CHAR.test(value))
      throw new StepError(`header ${name} contains characters that headers cannot carry`, false, { header: name });
    headers[name.toLowerCase()] = value;
  }

  let body: Buffer | undefined;
  if (config.body !== undefined) {
    const rendered = await evaluateTemplate(config.body, context, 'body');
    const isText = typeof rendered === 'string';
    body = Buffer.from(isText ? rendered : JSON.stringify(rendered), 'utf8');
    headers['content-type'] ??= isText ? 'text/plain; charset=utf-8' : 'application/json';
    headers['content-length'] = String(body.byteLength);
  }

  headers['idempotency-key'] = context.idempotencyKey;
  return { method: config.method, headers, body };
}

/** Hands the connection the addresses that were vetted, so a second DNS answer (a rebinding attack) cannot change them. */
function pinnedLookup(addresses: LookupAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = options.family === 4 || options.family === 6 ? options.family : undefined;
    const candidates = family ? addresses.filter((address) => address.family === family) : addresses;
    const [first] = candidates;
    if (!first) {
      callback(Object.assign(new Error(`no IPv${family} address was vetted`), { code: 'ENOTFOUND' }), '', undefined);
    } else if (options.all) {
      callback(null, candidates);
    } else {
      callback(null, first.address, first.family);
    }
  };
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body was longer than the limit; `body` holds only its start. */
  truncated: boolean;
}

async function send(
  url: URL,
  request: PreparedRequest,
  addresses: LookupAddress[],
  signal: AbortSignal,
  maxBytes: number,
): Promise<RawResponse> {
  const client = url.protocol === 'https:' ? https : http;
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    let req: http.ClientRequest;
    try {
      // A fresh connection per request: a pooled socket could have been opened under different vetting rules.
      req = client.request(url, {
        method: request.method,
        headers: request.headers,
        lookup: pinnedLookup(addresses),
        agent: false,
        signal,
      });
    } catch (error) {
      // Node validates the request synchronously; what it rejects here is the step's configuration, not the network.
      const message = error instanceof Error ? error.message : String(error);
      reject(new StepError(`invalid request: ${message}`, false));
      return;
    }
    req.once('response', resolve);
    req.once('error', reject);
    req.end(request.body);
  });

  const chunks: Buffer[] = [];
  let received = 0;
  let truncated = false;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    const room = maxBytes - received;
    if (chunk.byteLength > room) {
      chunks.push(chunk.subarray(0, room));
      truncated = true;
      break;
    }
    chunks.push(chunk);
    received += chunk.byteLength;
  }
  if (truncated) response.destroy();
  return { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks), truncated };
}

function interpret(response: RawResponse, expectStatus: number[] | undefined, request: string, maxBytes: number): HttpStepOutput {
  const { status } = response;
  const text = response.body.toString('utf8');
  const headers = flattenHeaders(response.headers);
  const expected = expectStatus ? expectStatus.includes(status) : status >= 200 && status < 300;
  if (!expected) {
    // 429 and 5xx mean the server could not handle the request now; any other status will not change on retry.
    const retryable = status === 429 || status >= 500;
    const body = excerpt(text);
    const details: Record<string, unknown> = { status, body };
    if (headers['retry-after'] !== undefined) details.retryAfter = headers['retry-after'];
    throw new StepError(
      `${request} responded with status ${status}${body === '' ? ' and an empty body' : `: ${body}`}`,
      retryable,
      details,
    );
  }
  if (response.truncated) {
    throw new StepError(`${request} responded with a body larger than ${maxBytes} bytes`, false, { status, maxResponseBytes: maxBytes });
  }
  return { status, headers, body: isJson(headers['content-type']) ? parseJson(text, status, request) : text };
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) =>
      value === undefined ? [] : [[name, Array.isArray(value) ? value.join(', ') : value]],
    ),
  );
}

function isJson(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}

function parseJson(text: string, status: number, request: string): unknown {
  // An empty body (a 204, say) has nothing to parse, whatever the content type claims.
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    const body = excerpt(text);
    throw new StepError(`${request} responded with status ${status} and a body that declares JSON but is not valid JSON: ${body}`, false, {
      status,
      body,
    });
  }
}

/**
 * The start of a body for an error message, on one line: whitespace and control characters (which PostgreSQL's text
 * columns refuse, in the case of NUL) become single spaces, and at most {@link ERROR_BODY_EXCERPT_CHARS} characters
 * are kept, never half of a surrogate pair.
 */
function excerpt(text: string): string {
  const oneLine = text.replace(/[\s\p{Cc}]+/gu, ' ').trim();
  if (oneLine.length <= ERROR_BODY_EXCERPT_CHARS) return oneLine;
  const cut = /[\ud800-\udbff]$/.test(oneLine.slice(0, ERROR_BODY_EXCERPT_CHARS)) ? ERROR_BODY_EXCERPT_CHARS - 1 : ERROR_BODY_EXCERPT_CHARS;
  return `${oneLine.slice(0, cut)}…`;
}
