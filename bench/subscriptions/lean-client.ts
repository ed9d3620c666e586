import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, MessageType, type ExecutionResult, type Sink, type SubscribePayload } from 'graphql-ws';
import WebSocket from 'ws';

/** What the subscription benchmark asks of a client: graphql-ws's `Client`, or the lean one below. */
export interface SubscriberClient {
  subscribe<Data>(payload: SubscribePayload, sink: Sink<ExecutionResult<Data>>): () => void;
  dispose(): void | Promise<void>;
}

export interface LeanClientOptions {
  url: string;
  /** The `connection_init` payload. */
  connectionParams: Record<string, unknown>;
  on: {
    /** The connection closed, for whatever reason; 1000 is a normal closure. */
    closed(event: { code: number; reason: string }): void;
    error(error: unknown): void;
  };
}

/** How a `next` message serialised by graphql-ws starts, around its id, and what follows the id. */
const NEXT_START = '{"id":"';
const NEXT_AFTER_ID = '","type":"next","payload":';
/** Distinct payloads remembered, parsed; a fan-out sends each event's identical payload to every subscriber. */
const PARSED_PAYLOADS = 16;

/**
 * Parsed `next` payloads by their exact text, shared by every client of the process: a message whose payload bytes
 * equal one already parsed gets that parse (compared whole, so every byte of every message is still checked), any
 * other is parsed on its own.
 */
class PayloadParses {
  private readonly byText = new Map<string, ExecutionResult<unknown>>();

  parse(text: string): ExecutionResult<unknown> {
    const known = this.byText.get(text);
    if (known) return known;
    const parsed = JSON.parse(text) as ExecutionResult<unknown>;
    this.byText.set(text, parsed);
    if (this.byText.size > PARSED_PAYLOADS) this.byText.delete(this.byText.keys().next().value!);
    return parsed;
  }
}

const payloadParses = new PayloadParses();

/**
 * The graphql-transport-ws protocol as a load generator needs it, and nothing more: one WebSocket, `connection_init`,
 * `subscribe` once acknowledged, `pong` to `ping`, and every message parsed and handed to its subscription by id. It
 * is to graphql-ws's client what autocannon is to a browser: graphql-ws's client spends about 5.5 µs per message on
 * one core (it hands every message to every subscription of its connection, and validates each), so that one process
 * of them delivering 30,000 messages per event measured its own backlog more than the server's latency. For the same
 * reason a `next` message in graphql-ws's own serialisation has its payload parsed once per distinct text
 * ({@link PayloadParses}): the subscribers of a fan-out all receive the same payload bytes.
 * Protocol errors are not forgiven: an unknown message type, or an event for no subscription, is reported as an error.
 */
export class LeanClient implements SubscriberClient {
  private readonly socket: WebSocket;
  private readonly sinks = new Map<string, Sink<ExecutionResult<unknown>>>();
  /** `subscribe` messages written before the server acknowledged the connection. */
  private waiting: string[] | undefined = [];
  private lastId = 0;
  private readonly closed: Promise<void>;

  constructor(private readonly options: LeanClientOptions) {
    this.socket = new WebSocket(options.url, GRAPHQL_TRANSPORT_WS_PROTOCOL);
    this.socket.on('open', () => this.write({ type: MessageType.ConnectionInit, payload: options.connectionParams }));
    this.socket.on('message', (data: Buffer) => this.receive(data.toString()));
    this.socket.on('error', (error) => options.on.error(error));
    this.closed = new Promise((resolve) =>
      this.socket.on('close', (code, reason) => {
        const sinks = [...this.sinks.values()];
        this.sinks.clear();
        for (const sink of sinks) {
          if (code === 1000) sink.complete();
          else sink.error(new Error(`connection closed ${code} ${reason.toString()}`.trim()));
        }
        options.on.closed({ code, reason: reason.toString() });
        resolve();
      }),
    );
  }

  subscribe<Data>(payload: SubscribePayload, sink: Sink<ExecutionResult<Data>>): () => void {
    const id = String(++this.lastId);
    this.sinks.set(id, sink);
    const message = JSON.stringify({ id, type: MessageType.Subscribe, payload });
    if (this.waiting) this.waiting.push(message);
    else this.socket.send(message);
    return () => {
      if (this.sinks.delete(id) && this.socket.readyState === WebSocket.OPEN) this.write({ id, type: MessageType.Complete });
    };
  }

  async dispose(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close(1000, 'Normal Closure');
    await this.closed;
  }

  private receive(text: string): void {
    if (text.startsWith(NEXT_START) && text.endsWith('}')) {
      const idEnd = text.indexOf('"', NEXT_START.length);
      if (idEnd > 0 && text.startsWith(NEXT_AFTER_ID, idEnd)) {
        const payload = payloadParses.parse(text.slice(idEnd + NEXT_AFTER_ID.length, -1));
        this.sinkOf(text.slice(NEXT_START.length, idEnd))?.next(payload);
        return;
      }
    }
    const message = JSON.parse(text) as { type: MessageType; id?: string; payload?: unknown };
    switch (message.type) {
      case MessageType.ConnectionAck: {
        const waiting = this.waiting ?? [];
        this.waiting = undefined;
        for (const subscribe of waiting) this.socket.send(subscribe);
        return;
      }
      case MessageType.Ping:
        this.write({ type: MessageType.Pong });
        return;
      case MessageType.Pong:
        return;
      case MessageType.Next:
        this.sinkOf(message.id)?.next(message.payload as ExecutionResult<unknown>);
        return;
      case MessageType.Error: {
        const sink = this.sinkOf(message.id);
        this.sinks.delete(message.id!);
        sink?.error(message.payload);
        return;
      }
      case MessageType.Complete: {
        const sink = this.sinkOf(message.id);
        this.sinks.delete(message.id!);
        sink?.complete();
        return;
      }
      default:
        this.options.on.error(new Error(`unexpected message type ${JSON.stringify(message.type)}`));
        this.socket.close(CloseCode.BadResponse, 'Bad response');
    }
  }

  private sinkOf(id: string | undefined): Sink<ExecutionResult<unknown>> | undefined {
    const sink = id === undefined ? undefined : this.sinks.get(id);
    // A subscription this client completed may still get what the server sent before it learnt so.
    if (!sink && !(id !== undefined && Number(id) <= this.lastId)) this.options.on.error(new Error(`a message for no subscription: ${id}`));
    return sink;
  }

  private write(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }
}
