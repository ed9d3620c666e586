import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FakeProvider = 'openai' | 'anthropic';

/**
 * What the fake does with one request: answer, refuse with a status (and Retry-After), never answer (the client's
 * timeout ends it), or, for a streamed request, send an event that is not JSON or drop the connection mid-answer.
 */
export type Outcome =
  | { kind: 'answer' }
  | { kind: 'answer-with'; text: string }
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'hang' }
  | { kind: 'malformed-stream' }
  | { kind: 'break-mid-stream'; after: Promise<void> };

export const answer: Outcome = { kind: 'answer' };
/** An answer of this text (in one streamed event), for what the service makes of a model's words. */
export const answerWith = (text: string): Outcome => ({ kind: 'answer-with', text });
export const tooManyRequests = (retryAfter?: string): Outcome => ({ kind: 'status', status: 429, ...(retryAfter ? { retryAfter } : {}) });
export const serverError: Outcome = { kind: 'status', status: 500 };
export const badRequest: Outcome = { kind: 'status', status: 400 };
export const hang: Outcome = { kind: 'hang' };
export const malformedStream: Outcome = { kind: 'malformed-stream' };
/** Two words of a streamed answer, then, once `after` settles, the connection drops. */
export const breakMidStream = (after: Promise<void>): Outcome => ({ kind: 'break-mid-stream', after });

export interface ReceivedRequest {
  provider: FakeProvider;
  path: string;
  body: Record<string, any>;
  /** performance.now() when it arrived. */
  at: number;
}

/** The words a fake answers with, one streamed event each: "Hello from openai, streamed in order." */
export const answerWords = (provider: FakeProvider) => ['Hello', ' from', ` ${provider},`, ' streamed', ' in', ' order.'];

/** A vector derived from the text, so that the same text always embeds the same. */
export function fakeEmbedding(text: string): number[] {
  const vector = Array.from({ length: 8 }, () => 0);
  for (let index = 0; index < text.length; index += 1) vector[index % 8]! += text.charCodeAt(index) / 1000;
  return vector;
}

const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

/**
 * OpenAI's (`/v1/chat/completions`, `/v1/embeddings`) and Anthropic's (`/v1/messages`) HTTP APIs on 127.0.0.1, JSON and
 * server-sent events, as the official SDKs call them; each provider follows a script of outcomes, then answers.
 */
export class FakeLlmProviders {
  readonly received: ReceivedRequest[] = [];
  private readonly scripts: Record<FakeProvider, Outcome[]> = { openai: [], anthropic: [] };
  private readonly always: Partial<Record<FakeProvider, Outcome>> = {};
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeLlmProviders> {
    const handlers: { handle?: (request: IncomingMessage, response: ServerResponse) => Promise<void> } = {};
    const server = createServer((request, response) => void handlers.handle!(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const fake = new FakeLlmProviders(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    handlers.handle = (request, response) => fake.handle(request, response);
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    return fake;
  }

  /** What the subgraph needs to talk to these fakes. */
  get environment(): Record<string, string> {
    return {
      OPENAI_API_KEY: 'sk-fake-openai',
      OPENAI_BASE_URL: `${this.url}/v1`,
      ANTHROPIC_API_KEY: 'sk-ant-fake',
      ANTHROPIC_BASE_URL: this.url,
    };
  }

  /** The next requests to `provider` meet these outcomes, in order; after them it answers again. */
  script(provider: FakeProvider, ...outcomes: Outcome[]): void {
    this.scripts[provider].push(...outcomes);
  }

  /** Every request to `provider` meets `outcome` until {@link recover}. */
  failAlways(provider: FakeProvider, outcome: Outcome): void {
    this.always[provider] = outcome;
  }

  recover(provider: FakeProvider): void {
    delete this.always[provider];
    this.scripts[provider] = [];
  }

  requestsTo(provider: FakeProvider): ReceivedRequest[] {
    return this.received.filter((request) => request.provider === provider);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, any>;
    const path = request.url ?? '';
    const provider: FakeProvider = path.startsWith('/v1/messages') ? 'anthropic' : 'openai';
    this.received.push({ provider, path, body, at: performance.now() });
    const outcome = this.always[provider] ?? this.scripts[provider].shift() ?? answer;

    if (outcome.kind === 'hang') return;
    if (outcome.kind === 'status') {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (outcome.retryAfter) headers['retry-after'] = outcome.retryAfter;
      response.writeHead(outcome.status, headers);
      response.end(JSON.stringify(errorBody(provider, outcome.status)));
      return;
    }
    if (path === '/v1/embeddings') return this.embeddings(body, response);
    if (provider === 'anthropic') return this.messages(body, response, outcome);
    if (path === '/v1/chat/completions') return this.chatCompletions(body, response, outcome);
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify(errorBody(provider, 404)));
  }

  private chatCompletions(body: Record<string, any>, response: ServerResponse, outcome: Outcome): void {
    const text = outcome.kind === 'answer-with' ? [outcome.text] : answerWords('openai');
    const promptTokens = (body.messages as { content: string }[]).reduce((sum, message) => sum + words(message.content), 0);
    const usage = { prompt_tokens: promptTokens, completion_tokens: text.length, total_tokens: promptTokens + text.length };
    const base = { id: 'chatcmpl-fake', created: 1_700_000_000, model: body.model };
    if (!body.stream) {
      json(response, {
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: text.join('') }, finish_reason: 'stop' }],
        usage,
      });
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    if (outcome.kind === 'malformed-stream') {
      response.end('data: {"id": "chatcmpl-fake", "choices": [\n\n');
      return;
    }
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
    const sent = outcome.kind === 'break-mid-stream' ? text.slice(0, 2) : text;
    for (const word of sent) response.write(chunk([{ index: 0, delta: { content: word }, finish_reason: null }]));
    if (outcome.kind === 'break-mid-stream') {
      void outcome.after.then(() => response.socket?.destroy());
      return;
    }
    response.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    response.write(chunk([], { usage }));
    response.end('data: [DONE]\n\n');
  }

  private messages(body: Record<string, any>, response: ServerResponse, outcome: Outcome): void {
    const text = outcome.kind === 'answer-with' ? [outcome.text] : answerWords('anthropic');
    const inputTokens = (body.messages as { content: string }[]).reduce((sum, message) => sum + words(message.content), 0);
    const message = {
      id: 'msg_fake',
      type: 'message',
      role: 'assistant',
      model: body.model,
      stop_sequence: null,
    };
    if (!body.stream) {
      json(response, {
        ...message,
        content: [{ type: 'text', text: text.join('') }],
        stop_reason: 'end_turn',
        usage: { input_tokens: inputTokens, output_tokens: text.length },
      });
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    if (outcome.kind === 'malformed-stream') {
      response.end('event: message_start\ndata: {"type": "message_start", "message": \n\n');
      return;
    }
    response.write(
      event('message_start', {
        message: { ...message, content: [], stop_reason: null, usage: { input_tokens: inputTokens, output_tokens: 1 } },
      }),
    );
    response.write(event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
    for (const word of text) response.write(event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: word } }));
    response.write(event('content_block_stop', { index: 0 }));
    response.write(
      event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: text.length } }),
    );
    response.end(event('message_stop', {}));
  }

  private embeddings(body: Record<string, any>, response: ServerResponse): void {
    const inputs = (Array.isArray(body.input) ? body.input : [body.input]) as string[];
    const tokens = inputs.reduce((sum, input) => sum + words(input), 0);
    json(response, {
      object: 'list',
      model: body.model,
      data: inputs.map((input, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(input) })),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }
}

function json(response: ServerResponse, body: unknown): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function errorBody(provider: FakeProvider, status: number) {
  const message = status === 429 ? 'Rate limit reached' : status >= 500 ? 'The server had an error' : 'Invalid request';
  return provider === 'openai'
    ? { error: { message, type: status === 429 ? 'rate_limit_error' : 'server_error', code: null } }
    : { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message } };
}
