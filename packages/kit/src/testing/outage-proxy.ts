import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real PostgreSQL, Redis or RabbitMQ, so that one test can take its dependency away
 * without stopping the server every other test file uses. `cut()` is what a crash or restart of the server looks
 * like from the client's side: every open connection is reset and new ones are refused until `restore()`.
 */
export class OutageProxy {
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private listenPort = 0;
  private cutSince: number | undefined;

  private constructor(private readonly target: { host: string; port: number }) {}

  /** Starts a proxy on a free loopback port in front of `targetUrl`'s host and port. */
  static async start(targetUrl: string): Promise<OutageProxy> {
    const url = new URL(targetUrl);
    const proxy = new OutageProxy({ host: url.hostname, port: Number(url.port) });
    await proxy.listen();
    return proxy;
  }

  /** `targetUrl` with its host and port replaced by the proxy's: the URL to give the service under test. */
  urlFor(targetUrl: string): string {
    const url = new URL(targetUrl);
    url.host = `127.0.0.1:${this.listenPort}`;
    return url.toString();
  }

  get isCut(): boolean {
    return this.cutSince !== undefined;
  }

  /** Resets every open connection and refuses new ones, as a dead server would. */
  async cut(): Promise<void> {
    if (this.cutSince !== undefined) return;
    this.cutSince = Date.now();
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    await this.closeServer();
  }

  /** Accepts connections again on the same port, as a restarted server would. */
  async restore(): Promise<void> {
    if (this.cutSince === undefined) return;
    await this.listen(this.listenPort);
    this.cutSince = undefined;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await this.closeServer();
  }

  private listen(port = 0): Promise<void> {
    const server = createServer((client) => this.pipe(client));
    this.server = server;
    return new Promise((listening, failed) => {
      server.once('error', failed);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', failed);
        const address = server.address();
        if (address && typeof address === 'object') this.listenPort = address.port;
        listening();
      });
    });
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    this.sockets.add(client).add(upstream);
    const forget = () => {
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      forget();
    });
    upstream.on('close', () => {
      client.destroy();
      forget();
    });
    client.pipe(upstream).pipe(client);
  }

  private closeServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((closed) => server.close(() => closed()));
  }
}
