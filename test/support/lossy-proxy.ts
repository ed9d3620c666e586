import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A reverse proxy in front of one service that can lose answers: a request it is told to lose reaches the service,
 * which acts on it and answers, but the connection to the caller is cut before the answer gets there, as when a
 * network or a pod fails at the wrong moment. The caller cannot tell whether its request had its effect.
 */
export class LossyProxy {
  private server: Server | undefined;
  private readonly losses: { marker: string; remaining: number }[] = [];
  /** The markers of the requests whose answers were lost, in order. */
  readonly lost: string[] = [];
  url = '';

  /** `target`: the service's URL; the proxy's own `url` has the same path. */
  constructor(private readonly target: string) {}

  /** Loses the answers to the next `count` requests whose body contains `marker` (e.g. an operation's name). */
  loseAnswers(marker: string, count = 1): void {
    this.losses.push({ marker, remaining: count });
  }

  async start(): Promise<this> {
    const target = new URL(this.target);
    this.server = createServer((request, response) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
        const body = Buffer.concat(chunks);
        const upstream = await fetch(new URL(request.url ?? '/', target.origin), {
          method: request.method,
          headers: forwardable(request.headers),
          ...(request.method === 'GET' || request.method === 'HEAD' ? {} : { body }),
        });
        const answer = Buffer.from(await upstream.arrayBuffer());
        const loss = this.losses.find((candidate) => candidate.remaining > 0 && body.includes(candidate.marker));
        if (loss) {
          loss.remaining -= 1;
          this.lost.push(loss.marker);
          request.socket.destroy();
          return;
        }
        response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream' });
        response.end(answer);
      })().catch(() => request.socket.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = new URL(`${target.pathname}${target.search}`, `http://127.0.0.1:${port}`).toString();
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The caller's headers as the service should see them; those about this hop's connection are the proxy's own. */
function forwardable(headers: IncomingHttpHeaders): Headers {
  const forwarded = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || ['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(name)) continue;
    for (const single of Array.isArray(value) ? value : [value]) forwarded.append(name, single);
  }
  return forwarded;
}
