/**
 * One gateway in a process of its own, for the subscription benchmark: as deployed, its event loop and heap are the
 * gateway's alone, not shared with the subgraphs and the embedded database of the benchmark's process. Driven over IPC
 * by {@link GatewayProcess}: started with the environment the test stack would give an in-process gateway, asked for its
 * memory after garbage collection, profiled, closed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Environment } from '@nexusflow/kit';

export interface MemorySample {
  heapUsed: number;
  external: number;
  rss: number;
}

type Request =
  | { kind: 'start'; env: Environment; args: string[] }
  | { kind: 'memory' }
  | { kind: 'profile-start' }
  | { kind: 'profile-save'; file: string }
  | { kind: 'close' };

type Reply =
  | { kind: 'started'; url: string; graphqlUrl: string }
  | { kind: 'memory'; memory: MemorySample }
  | { kind: 'done' }
  | { kind: 'failed'; error: string };

/** Heap and RSS once three collections have run, so that garbage does not count. */
export async function settledMemory(gc: () => void): Promise<MemorySample> {
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { heapUsed, external, rss } = process.memoryUsage();
  return { heapUsed, external, rss };
}

/** V8's collector without a command-line flag. */
export function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** The gateway process, seen from the benchmark. */
export class GatewayProcess {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly graphqlUrl: string,
  ) {}

  static async start(env: Environment, args: string[]): Promise<GatewayProcess> {
    const child = fork(fileURLToPath(import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const started = await ask(child, { kind: 'start', env, args });
    if (started.kind !== 'started') throw new Error('the gateway process did not start');
    return new GatewayProcess(child, started.url, started.graphqlUrl);
  }

  async memory(): Promise<MemorySample> {
    const reply = await this.request({ kind: 'memory' });
    if (reply.kind !== 'memory') throw new Error('the gateway process did not report its memory');
    return reply.memory;
  }

  async startProfile(): Promise<void> {
    await this.request({ kind: 'profile-start' });
  }

  async saveProfile(file: string): Promise<void> {
    await this.request({ kind: 'profile-save', file });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.request({ kind: 'close' }).catch(() => undefined);
    await exited;
  }

  /** One request at a time: replies carry no id. */
  private request(request: Request): Promise<Reply> {
    const reply = this.queue.then(() => ask(this.child, request));
    this.queue = reply.catch(() => undefined);
    return reply;
  }
}

function ask(child: ChildProcess, request: Request): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null) => reject(new Error(`the gateway process exited (${code ?? signal})`));
    child.once('exit', onExit);
    child.once('message', (reply) => {
      child.off('exit', onExit);
      const answer = reply as Reply;
      if (answer.kind === 'failed') reject(new Error(`the gateway process failed: ${answer.error}`));
      else resolve(answer);
    });
    child.send(request);
  });
}

/** The child's side: a gateway, and answers to the benchmark's requests. */
async function serve(): Promise<void> {
  const { loadGatewayConfig } = await import('../../gateway/src/config.ts');
  const { startGateway } = await import('../../gateway/src/gateway.ts');
  const gc = collector();
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  let session: Session | undefined;
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw) => {
    const request = raw as Request;
    const handle = async (): Promise<Reply> => {
      switch (request.kind) {
        case 'start':
          gateway = await startGateway(loadGatewayConfig(request.env, request.args));
          return { kind: 'started', url: gateway.url, graphqlUrl: gateway.graphqlUrl };
        case 'memory':
          return { kind: 'memory', memory: await settledMemory(gc) };
        case 'profile-start':
          session = new Session();
          session.connect();
          await session.post('Profiler.enable');
          await session.post('Profiler.start');
          return { kind: 'done' };
        case 'profile-save': {
          if (!session) throw new Error('no profile was started');
          const { profile } = await session.post('Profiler.stop');
          session.disconnect();
          session = undefined;
          await mkdir(dirname(request.file), { recursive: true });
          await writeFile(request.file, JSON.stringify(profile));
          return { kind: 'done' };
        }
        case 'close':
          await gateway?.close();
          setImmediate(() => process.exit(0));
          return { kind: 'done' };
      }
    };
    handle().then(
      (reply) => process.send?.(reply),
      (error: unknown) =>
        process.send?.({ kind: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) await serve();
