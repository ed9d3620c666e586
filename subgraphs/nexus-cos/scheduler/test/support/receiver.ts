import type { IncomingHttpHeaders } from 'node:http';
import { listenOnLoopback, type LoopbackServer } from '@nexusflow/kit/testing';
import { verifyIdentity, type IdentityVerification } from '@nexusflow/kit';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** The signed identity, checked with the internal secret at the scheduler's clock. */
  identity: IdentityVerification;
}

/**
 * Plays a Nexus COS service that scheduled tasks are delivered to: it records every POST, checks its signature, and
 * answers by path: `/fail` with 500, `/slow` never (until the test ends), `/redirect` with a 302 to `/elsewhere`,
 * anything else with 204.
 */
export async function startReceiver(internalSecret: string, now: () => number) {
  const received: Received[] = [];
  const server: LoopbackServer = await listenOnLoopback((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      const header = (name: string) => {
        const value = request.headers[name];
        return Array.isArray(value) ? value[0] : value;
      };
      received.push({
        path,
        headers: request.headers,
        body: JSON.parse(Buffer.concat(chunks).toString() || 'null'),
        identity: verifyIdentity(header, internalSecret, now()),
      });
      if (path === '/slow') return;
      if (path === '/fail') response.writeHead(500).end();
      else if (path === '/redirect') response.writeHead(302, { location: '/elsewhere' }).end();
      else response.writeHead(204).end();
    });
  });
  return { origin: server.origin, received, close: () => server.close() };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
