import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of one server, so that a test can break the network between two of its own
 * processes, or take a real PostgreSQL, Redis or RabbitMQ away from one test without stopping the server every other
 * test file uses: {@link takeDown} is what a crash or restart of the server looks like from the client's side,
 * {@link cut} drops every connection at once, {@link refuseNext} turns the next attempts away. Counts the connections
 * it forwards and refuses, for tests to check what arrived.
 */
export class TcpProxy {
  /** Connections forwarded to the target so far. */
  accepted = 0;
  /** Of those, connections that opened with a WebSocket upgrade request. */
  webSocketsAccepted = 0;
  /** Connections turned away by {@link refuseNext} so far. */
  refused = 0;
  private readonly pairs = new Set<[Socket, Socket]>();
  private toRefuse = 0;
  /** Requests whose replies are to be lost, by a piece of their bytes ({@link loseReplyTo}). */
  private readonly replyLosses: { marker: Buffer; lost: () => void }[] = [];
  private down = false;
  private target: { host: string; port: number } | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /**
   * Listens on a free port of 127.0.0.1 and forwards every connection to `target` (a host and port, or a server's URL).
   * Without a target it refuses connections until {@link pointAt} names one: for two servers that each need the other's
   * address before they start.
   */
  static async start(target?: { host: string; port: number } | string): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    if (target !== undefined) proxy.pointAt(target);
    server.on('connection', (client) => proxy.accept(client));
    return proxy;
  }

  /** Forwards new connections to `target` from now on. */
  pointAt(target: { host: string; port: number } | string): void {
    if (typeof target === 'string') {
      const url = new URL(target);
      this.target = { host: url.hostname, port: Number(url.port) };
    } else {
      this.target = target;
    }
  }

  /** `url` with its host and port replaced by the proxy's: the URL to give the client under test. */
  urlFor(url: string): string {
    const proxied = new URL(url);
    proxied.host = `127.0.0.1:${this.port}`;
    return proxied.toString();
  }

  get isDown(): boolean {
    return this.down;
  }

  /** Resets the next `count` connections as soon as they arrive, the way a peer that is down answers. */
  refuseNext(count: number): void {
    this.toRefuse += count;
  }

  /** Cuts every live connection and refuses every new one, as a peer that went down does, until {@link bringUp}. */
  takeDown(): void {
    this.down = true;
    this.cut();
  }

  /** Forwards new connections again after {@link takeDown}. */
  bringUp(): void {
    this.down = false;
  }

  /**
   * Resets every live connection, on both sides, as a network failure does: no close handshake
   * at any level, so each side learns of it only from the reset.
   */
  cut(): void {
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.pairs.clear();
  }

  /**
   * Forwards the next request whose bytes hold `marker`, then resets its connection, on both sides, as soon as the
   * reply begins: the server did the work and the client never hears of it, as when the network fails between a
   * commit and its answer. Resolves once the reply is lost.
   */
  loseReplyTo(marker: string): Promise<void> {
    return new Promise((resolve) => this.replyLosses.push({ marker: Buffer.from(marker), lost: resolve }));
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const target = this.target;
    if (this.down || this.toRefuse > 0 || !target) {
      if (!this.down) this.toRefuse -= 1;
      this.refused += 1;
      client.resetAndDestroy();
      return;
    }
    this.accepted += 1;
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    // Either side failing takes the other down with it, as one broken path would.
    const drop = () => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) {
      socket.setNoDelay(true);
      socket.on('error', drop);
      socket.on('close', drop);
    }
    client.once('data', (first: Buffer) => {
      if (/^GET [^\r]*\r\n[\s\S]*^upgrade:\s*websocket/im.test(first.toString('latin1'))) this.webSocketsAccepted += 1;
    });
    client.on('data', (chunk: Buffer) => {
      const index = this.replyLosses.findIndex(({ marker }) => chunk.includes(marker));
      if (index === -1) return;
      const [loss] = this.replyLosses.splice(index, 1);
      upstream.unpipe(client);
      upstream.once('data', () => {
        this.pairs.delete(pair);
        client.resetAndDestroy();
        upstream.resetAndDestroy();
        loss!.lost();
      });
      // Unpiped, the stream was paused: read on, to see the reply begin.
      upstream.resume();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
