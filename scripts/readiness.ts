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

export interface ReadinessWait {
  /** Past it the wait fails, naming what is not ready. */
  timeoutMs: number;
  /** @default 200 */
  intervalMs?: number;
  /** The wait ends, failing, as soon as this rejects (e.g. the process that should serve them failed to start). */
  abandonedWhen?: Promise<unknown>;
}

/** Resolves once every one of `baseUrls` is ready as the launch `instance` (see {@link isReadyAs}). */
export async function waitUntilReadyAs(baseUrls: readonly string[], instance: string, wait: ReadinessWait): Promise<void> {
  const deadline = Date.now() + wait.timeoutMs;
  let abandoned: unknown;
  let isAbandoned = false;
  wait.abandonedWhen?.catch((reason: unknown) => {
    abandoned = reason;
    isAbandoned = true;
  });
  for (;;) {
    if (isAbandoned) throw abandoned;
    const ready = await Promise.all(baseUrls.map((url) => isReadyAs(url, instance).catch(() => false)));
    const waiting = baseUrls.filter((_, index) => !ready[index]);
    if (waiting.length === 0) return;
    if (Date.now() >= deadline) throw new Error(`not ready after ${wait.timeoutMs} ms: ${waiting.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, wait.intervalMs ?? 200));
  }
}
