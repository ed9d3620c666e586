import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createDeferred } from '@nexusflow/kit/testing';
import { repositoryRoot } from '../../scripts/topology.ts';

export interface LaunchedProcess {
  child: ChildProcess;
  /** Everything the process printed so far, for failure messages. */
  output(): string;
  /** Resolves with the first printed line matching the pattern; rejects if the process exits first. */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves once the process has exited and its streams are read to their end, with what each held. */
  finished(): Promise<{ exitCode: number | null; stdout: string; stderr: string }>;
}

/** Runs a TypeScript entry point of this repository as its own Node process, as `npm` scripts do. */
export function launchScript(entry: string, args: string[], env: NodeJS.ProcessEnv, cwd = repositoryRoot): LaunchedProcess {
  // tsx by absolute URL, so that a process started in another folder still finds it.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), entry, ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const watchers: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const exited = createDeferred<number | null>();
  child.on('exit', (code) => exited.resolve(code));
  let pending = '';
  const onData = (chunk: Buffer) => {
    const parts = (pending + chunk.toString()).split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const watcher of [...watchers]) {
        if (watcher.pattern.test(line)) {
          watchers.splice(watchers.indexOf(watcher), 1);
          watcher.resolve(line);
        }
      }
    }
  };
  const streams = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    streams.stdout += chunk.toString();
    onData(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    streams.stderr += chunk.toString();
    onData(chunk);
  });
  // 'close', not 'exit': the streams are read to their end.
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
  return {
    child,
    output: () => lines.join('\n'),
    waitForLine(pattern) {
      const existing = lines.find((line) => pattern.test(line));
      if (existing) return Promise.resolve(existing);
      const found = createDeferred<string>();
      watchers.push({ pattern, resolve: found.resolve });
      return Promise.race([
        found.promise,
        exited.promise.then((code) => {
          throw new Error(`process exited (${code}) before printing ${pattern}:\n${lines.join('\n')}`);
        }),
      ]);
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited.promise;
    },
    async finished() {
      return { exitCode: await closed, ...streams };
    },
  };
}

/**
 * The URL a service started with `PORT=0` listens on, read from the JSON line it logs once ready (`subgraph ready`,
 * `gateway ready`): binding port 0 lets the OS pick a free port, where checking one first races with other tests.
 */
export async function listeningUrl(launched: LaunchedProcess, readyMessage: string): Promise<string> {
  const line = await launched.waitForLine(new RegExp(`"msg":"${readyMessage}"`));
  const { url } = JSON.parse(line) as { url?: string };
  if (!url) throw new Error(`"${readyMessage}" carried no url: ${line}`);
  return url;
}

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const EPHEMERAL_PORTS_START = 32_768;

/**
 * An offset that moves every given port onto a free one, so that parallel launches do not collide: for the launcher,
 * whose ports come from the topology. The offsets stay below Linux's ephemeral range (32768 and up), so no port bound
 * with 0 takes one between the check and the launch; anything else should bind port 0 (see {@link listeningUrl}).
 */
export async function freePortOffset(ports: number[]): Promise<number> {
  const room = EPHEMERAL_PORTS_START - 10_000 - Math.max(...ports);
  if (room <= 0) throw new Error(`ports up to ${Math.max(...ports)} leave no offset below ${EPHEMERAL_PORTS_START}`);
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 10_000 + Math.floor(Math.random() * room);
    const results = await Promise.all(ports.map((port) => isFree(port + offset)));
    if (results.every(Boolean)) return offset;
  }
  throw new Error('no free port offset found');
}
