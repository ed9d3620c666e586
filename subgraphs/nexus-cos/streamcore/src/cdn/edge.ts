import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, type Logger, type RouteHandler } from '@nexusflow/kit';
import { verifyEdgeToken } from './edge-token.ts';
import { isOriginKey, type OriginStore } from './origin-store.ts';

const CONTENT_TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
  m4s: 'video/iso.segment',
  mp4: 'video/mp4',
  ts: 'video/mp2t',
};

/** How long a browser may keep what the edge served: shorter than any token lives. */
const CLIENT_CACHE_SECONDS = 30;

export interface CdnEdgeOptions {
  origin: OriginStore;
  /** The EdgeAuth key, in hex: streamcore's CDN_SIGNING_KEY. */
  signingKey: string;
  /** The time tokens are judged by, in ms since the epoch. @default Date.now */
  now?: () => number;
  logger?: Logger;
  /** Where the edge's paths start, e.g. `/cdn` when it shares a port with other routes. @default '' */
  pathPrefix?: string;
}

export interface RunningCdnEdge {
  url: string;
  close(): Promise<void>;
}

function refuse(res: ServerResponse, status: number, error: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'access-control-allow-origin': '*' });
  res.end(JSON.stringify({ error }));
}

/**
 * A CDN edge in one function: `GET /<token>/<origin key>` serves the origin's object when the token (see
 * ./edge-token.ts) is signed with the key, valid now, its ACL covers `/<origin key>` and, when it names an address, the
 * request comes from it. The token leads the path so that the relative URIs of playlists and manifests keep it.
 */
export function cdnEdgeHandler(options: CdnEdgeOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const now = options.now ?? Date.now;
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const pathname = new URL(req.url ?? '/', 'http://edge').pathname.slice(options.pathPrefix?.length ?? 0);
    const [, encodedToken, ...parts] = pathname.split('/');
    let token: string;
    let key: string;
    try {
      token = decodeURIComponent(encodedToken ?? '');
      key = parts.map(decodeURIComponent).join('/');
    } catch {
      return refuse(res, 400, 'malformed');
    }
    if (!token || !isOriginKey(key)) return refuse(res, 404, 'not-found');
    const verification = verifyEdgeToken(
      token,
      { path: `/${key}`, clientAddress: req.socket.remoteAddress ?? '', nowSeconds: Math.floor(now() / 1000) },
      options.signingKey,
    );
    if (!verification.ok) {
      options.logger?.info({ key, reason: verification.reason }, 'edge refused a request');
      return refuse(res, 403, verification.reason);
    }
    const bytes = await options.origin.read(key);
    if (!bytes) return refuse(res, 404, 'not-found');
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[key.slice(key.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
      'content-length': String(bytes.byteLength),
      'cache-control': `private, max-age=${CLIENT_CACHE_SECONDS}`,
      'access-control-allow-origin': '*',
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
}

/** The edge as a route of a service's own server, under `pathPrefix`: streamcore's built-in edge for local runs. */
export function cdnEdgeRoute(options: CdnEdgeOptions & { pathPrefix: string }): RouteHandler {
  const handle = cdnEdgeHandler(options);
  return async (req, res, url) => {
    if (!url.pathname.startsWith(`${options.pathPrefix}/`)) return false;
    await handle(req, res);
    return true;
  };
}

/** The edge on its own port, e.g. for tests and `npm run edge`. */
export async function startCdnEdge(options: CdnEdgeOptions & { port?: number; host?: string }): Promise<RunningCdnEdge> {
  const handle = cdnEdgeHandler(options);
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.logger?.error({ err: error }, 'edge failed to serve a request');
      if (!res.headersSent) refuse(res, 502, 'origin-unavailable');
      else res.destroy();
    });
  });
  const running = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  return { url: running.url, close: () => running.close() };
}
