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
const NEXT_START = Buffer.from('{"id":"');
const NEXT_AFTER_ID = Buffer.from('","type":"next","payload":');
const QUOTE = 0x22;
const CLOSING_BRACE = 0x7d;
/** Distinct payloads remembered, parsed; a fan-out sends each event's identical payload to every subscriber. */
const PARSED_PAYLOADS = 16;

/**
 * Parsed `next` payloads by their exact bytes, shared by every client of the process: a message whose payload bytes
 * equal one already parsed gets that parse (compared whole, byte for byte, so every byte of every message is still
 * checked), any other is decoded and parsed on its own.
 */
class PayloadParses {
  private readonly known: { bytes: Buffer; parsed: ExecutionResult<unknown> }[] = [];

  /** The payload in `message` from `start` to `end`. */
  parse(message: Buffer, start: number, end: number): ExecutionResult<unknown> {
    const length = end - start;
    for (const { bytes, parsed } of this.known) {
      if (bytes.length === length && message.compare(bytes, 0, length, start, end) === 0) return parsed;
    }
    const parsed = JSON.parse(message.toString('utf8', start, end)) as ExecutionResult<unknown>;
    this.known.unshift({ bytes: Buffer.from(message.subarray(start, end)), parsed });
    if (this.known.length > PARSED_PAYLOADS) this.known.pop();
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
    this.socket.on('message', (data: Buffer) => this.receive(data));
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

  private receive(data: Buffer): void {
    const shortest = NEXT_START.length + NEXT_AFTER_ID.length + 1;
    if (
      data.length > shortest &&
      data.at(-1) === CLOSING_BRACE &&
      data.compare(NEXT_START, 0, NEXT_START.length, 0, NEXT_START.length) === 0
    ) {
      const idEnd = data.indexOf(QUOTE, NEXT_START.length);
      const payloadStart = idEnd + NEXT_AFTER_ID.length;
      if (idEnd > 0 && payloadStart < data.length && data.compare(NEXT_AFTER_ID, 0, NEXT_AFTER_ID.length, idEnd, payloadStart) === 0) {
        const payload = payloadParses.parse(data, payloadStart, data.length - 1);
        this.sinkOf(data.toString('latin1', NEXT_START.length, idEnd))?.next(payload);
        return;
      }
    }
    const text = data.toString();
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
    if (id === undefined) {
      this.options.on.error(new Error('a message without a subscription id'));
      return undefined;
    }
    const sink = this.sinks.get(id);
    // A subscription this client completed may still get what the server sent before it learnt so; an id it never
    // handed out is the server's mistake.
    if (!sink && !(Number(id) <= this.lastId)) this.options.on.error(new Error(`a message for no subscription: ${id}`));
    return sink;
  }

  private write(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }
}
