import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { repositoryRoot } from '../../scripts/topology.ts';

export interface BenchProcess {
  child: ChildProcess;
  /** What the process printed as `{"ready": …}` on its first line of JSON. */
  ready: unknown;
  /** Milliseconds from spawn to that line. */
  startMs: number;
  /** The process's peak resident memory so far (VmHWM), in bytes. */
  peakRss(): Promise<number>;
  /** CPU time the process has used so far (user and system, all threads), in ms. */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Runs a TypeScript entry of this repository as its own Node process and waits for it to announce that
 * it is ready, either with a `{"ready": …}` JSON line or, when `readyWhen` is given, when that resolves.
 */
export async function startProcess(
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { readyWhen?: () => Promise<unknown>; timeoutMs?: number; nodeOptions?: readonly string[] } = {},
): Promise<BenchProcess> {
  const started = performance.now();
  const child = spawn(process.execPath, [...(options.nodeOptions ?? []), '--import', 'tsx', entry, ...args], {
    cwd: repositoryRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${entry} exited (${code}) before it was ready:\n${output}`))),
  );
  const announced = new Promise<unknown>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((candidate) => candidate.startsWith('{"ready"'));
      if (line) resolve((JSON.parse(line) as { ready: unknown }).ready);
    });
  });
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${entry} was not ready in time:\n${output}`)), options.timeoutMs ?? 60_000).unref(),
  );
  const ready = await Promise.race([options.readyWhen ? options.readyWhen() : announced, exited, deadline]);
  const startMs = performance.now() - started;
  exited.catch(() => undefined);
  return {
    child,
    ready,
    startMs,
    async peakRss() {
      let total = 0;
      for (const pid of await processTree(child.pid!)) {
        const status = await readFile(`/proc/${pid}/status`, 'utf8');
        total += Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) * 1024;
      }
      return total;
    },
    async cpuMs() {
      let total = 0;
      for (const pid of await processTree(child.pid!)) {
        // utime and stime, the 14th and 15th fields of /proc/<pid>/stat, in clock ticks (100 a second on Linux).
        const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
        total += (Number(fields[11]) + Number(fields[12])) * 10;
      }
      return total;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(killer);
    },
  };
}

/**
 * The process and its descendants (a gateway in the multi-process mode forks its workers), so that memory and CPU are
 * those of the whole gateway: peak RSS is the sum of each process's peak, an upper bound when they peaked apart.
 */
async function processTree(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const descendants = await Promise.all(
    children
      .split(' ')
      .filter(Boolean)
      .map((child) => processTree(Number(child))),
  );
  return [pid, ...descendants.flat()];
}

/** Tries `attempt` every 10 ms until it yields a value, for at most `timeoutMs`. */
async function poll<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves with the first 200 answer of the GraphQL endpoint to `body`, as text. */
export function firstAnswer(url: string, body: string, timeoutMs = 60_000): Promise<string> {
  return poll(
    `${url} did not answer`,
    async () => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return response.status === 200 ? response.text() : undefined;
    },
    timeoutMs,
  );
}

/** Resolves once a gateway in the multi-process mode reports `workers` workers serving on its /metrics. */
export function everyWorkerServing(baseUrl: string, metricsToken: string, workers: number, timeoutMs = 60_000): Promise<true> {
  return poll(
    `${baseUrl} did not have ${workers} workers serving`,
    async () => {
      const response = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
      return (await response.text()).includes(`gateway_workers{service="gateway"} ${workers}\n`) ? true : undefined;
    },
    timeoutMs,
  );
}

/** Resolves once the service at `baseUrl` reports itself ready. */
export function ready(baseUrl: string, timeoutMs = 60_000): Promise<true> {
  return poll(`${baseUrl} was not ready`, async () => ((await fetch(`${baseUrl}/health/ready`)).ok ? true : undefined), timeoutMs);
}

/**
 * The environment both gateways run with in the deep-query benchmarks: like for like, so that ours runs without the
 * rate limits and cost reporting the baseline does not have.
 */
export function benchGatewayEnvironment(options: { secret: string; supergraphFile: string; port: number }): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    JWT_SECRET: options.secret,
    INTERNAL_SECRET: options.secret,
    // The baseline has no rate limits; ours would refuse a benchmark's worth of requests from one address.
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_PER_TENANT_PER_MINUTE: '0',
    RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '0',
    // The baseline reports no cost and refuses nothing for it; ours still estimates and measures every operation.
    DEMAND_CONTROL: 'measure',
    COST_IN_RESPONSE: 'false',
    SUPERGRAPH_PATH: options.supergraphFile,
    PORT: String(options.port),
  };
}
