import WebSocket from 'ws';
import { createDeferred, type Deferred } from '@nexusflow/kit/testing';

interface Message {
  type: string;
  id?: string;
  payload?: unknown;
}

/** What a graphql-ws operation answered: its results, or its errors, then whether it completed. */
export interface OperationOutcome {
  results: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[]; extensions?: Record<string, unknown> }[];
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/**
 * The graphql-transport-ws protocol spoken over a raw socket, so that a test sees every message and close code
 * exactly as the gateway sends them.
 */
export class ProtocolSession {
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly pending = new Map<string, { outcome: OperationOutcome; done: Deferred<OperationOutcome> }>();
  private nextId = 1;
  private acknowledged?: Deferred<boolean>;

  private constructor(private readonly socket: WebSocket) {
    const closed = createDeferred<{ code: number; reason: string }>();
    this.closed = closed.promise;
    socket.on('close', (code, reason) => {
      this.acknowledged?.resolve(false);
      closed.resolve({ code, reason: String(reason) });
    });
    socket.on('message', (data) => this.receive(JSON.parse(String(data)) as Message));
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<ProtocolSession> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', { headers });
      socket.once('open', () => resolve(new ProtocolSession(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends connection_init; true once acknowledged, false if the gateway closed the connection instead. */
  init(payload?: Record<string, unknown>): Promise<boolean> {
    this.acknowledged = createDeferred<boolean>();
    this.send({ type: 'connection_init', ...(payload ? { payload } : {}) });
    return this.acknowledged.promise;
  }

  /** Runs one operation to its end (complete or error). */
  run(payload: { query?: string; variables?: unknown; operationName?: string; extensions?: unknown }): Promise<OperationOutcome> {
    const id = String(this.nextId++);
    const done = createDeferred<OperationOutcome>();
    this.pending.set(id, { outcome: { results: [] }, done });
    this.send({ id, type: 'subscribe', payload });
    return done.promise;
  }

  send(message: Message | string): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.socket.close();
  }

  private receive(message: Message): void {
    if (message.type === 'connection_ack') {
      this.acknowledged?.resolve(true);
      return;
    }
    const operation = message.id === undefined ? undefined : this.pending.get(message.id);
    if (!operation) return;
    if (message.type === 'next') operation.outcome.results.push(message.payload as OperationOutcome['results'][number]);
    if (message.type === 'error') operation.outcome.errors = message.payload as OperationOutcome['errors'];
    if (message.type === 'complete' || message.type === 'error') {
      this.pending.delete(message.id!);
      operation.done.resolve(operation.outcome);
    }
  }
}
