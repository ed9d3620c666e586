import { createServer } from 'node:net';

/**
 * A port free on 127.0.0.1 now, for a service that must know its public URL before it starts (providers call it back
 * while the test runs: Graph's validation request, Pub/Sub's pushes).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
