import { createServer } from 'node:net';
import { INSTANCE_HEADER } from '@nexusflow/kit/core';

/**
 * Whether the process behind `baseUrl` is ready and belongs to the launch named `instance` (every process the launcher
 * starts gets it as NEXUSFLOW_INSTANCE and sends it back on its health endpoints). Another instance already serving on
 * the same port answers ready too, but not as this launch.
 */
export async function isReadyAs(baseUrl: string, instance: string): Promise<boolean> {
  const response = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(1000) });
  await response.body?.cancel();
  return response.ok && response.headers.get(INSTANCE_HEADER) === instance;
}

export interface NamedPort {
  /** What is meant to listen there, e.g. "gateway". */
  name: string;
  port: number;
}

async function isFree(port: number, host: string): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The ports something already listens on, in the order given. @default host 127.0.0.1, where every process binds by default */
export async function portsInUse(ports: NamedPort[], host = '127.0.0.1'): Promise<NamedPort[]> {
  const free = await Promise.all(ports.map(({ port }) => isFree(port, host)));
  return ports.filter((_, index) => !free[index]);
}
