import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDeferred, type Deferred } from '@nexusflow/kit/testing';

export interface RecordedCall {
  path: string;
  method: string;
  idempotencyKey: string | undefined;
  body: unknown;
}

type Behaviour = (call: RecordedCall, attempt: number, res: ServerResponse) => Promise<void> | void;

/**
 * The outside world a workflow's HTTP steps call: records every call, counts attempts per idempotency
 * key (as Stripe-like APIs do), and behaves per path as a test arranges.
 */
export class RecordingServer {
  readonly calls: RecordedCall[] = [];
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly held = new Map<string, Deferred<void>>();
  private readonly arrived = new Map<string, Deferred<void>>();
  private server: Server | undefined;
  url = '';

  /** Answers `path` with this behaviour; unknown paths answer 200 with `{ ok: true }`. */
  on(path: string, behaviour: Behaviour): this {
    this.behaviours.set(path, behaviour);
    return this;
  }

  /** Fails the first `failures` attempts of each idempotency key with 503, then succeeds. */
  flaky(path: string, failures: number): this {
    return this.on(path, (_call, attempt, res) => json(res, attempt <= failures ? 503 : 200, { attempt }));
  }

  /** Keeps calls to `path` waiting until {@link release}; {@link arrival} resolves when one is waiting. */
  hold(path: string): this {
    this.held.set(path, createDeferred());
    this.arrived.set(path, createDeferred());
    return this.on(path, async (_call, _attempt, res) => {
      this.arrived.get(path)!.resolve();
      await this.held.get(path)!.promise;
      json(res, 200, { released: true });
    });
  }

  arrival(path: string): Promise<void> {
    return this.arrived.get(path)!.promise;
  }

  release(path: string): void {
    this.held.get(path)?.resolve();
  }

  callsTo(path: string): RecordedCall[] {
    return this.calls.filter((call) => call.path === path);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const call: RecordedCall = {
      path: url.pathname,
      method: req.method ?? 'GET',
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      body: text ? JSON.parse(text) : undefined,
    };
    this.calls.push(call);
    const attempt = this.calls.filter((c) => c.path === call.path && c.idempotencyKey === call.idempotencyKey).length;
    const behaviour = this.behaviours.get(call.path);
    if (behaviour) await behaviour(call, attempt, res);
    else json(res, 200, { ok: true, path: call.path });
  }

  async close(): Promise<void> {
    for (const held of this.held.values()) held.resolve();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}
