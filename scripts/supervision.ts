import { spawn, type ChildProcess } from 'node:child_process';

export interface RestartPolicy {
  /** Wait before the first restart; each further restart in a row waits twice as long. @default 1000 */
  baseDelayMs: number;
  /** Longest wait between two restarts. @default 30000 */
  maxDelayMs: number;
  /** A process that stayed up this long counts as healthy again: its next restart waits `baseDelayMs`, as attempt 1. @default 60000 */
  resetAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { baseDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 60_000 };

/** Exponential backoff between restarts of one process, so that a process failing at once does not spin. */
export class RestartBackoff {
  private attempts = 0;

  constructor(private readonly policy: RestartPolicy) {}

  /** The restart that follows an exit after `uptimeMs` of running: its attempt number (from 1) and how long to wait first. */
  next(uptimeMs: number): { attempt: number; delayMs: number } {
    if (uptimeMs >= this.policy.resetAfterMs) this.attempts = 0;
    const delayMs = Math.min(this.policy.baseDelayMs * 2 ** this.attempts, this.policy.maxDelayMs);
    this.attempts += 1;
    return { attempt: this.attempts, delayMs };
  }
}

export function formatDelay(milliseconds: number): string {
  return milliseconds < 1000 ? `${milliseconds} ms` : `${milliseconds / 1000} s`;
}

export interface SupervisedProcessOptions {
  /** Prefixes the process's output and names it in the supervisor's messages. */
  name: string;
  /** Width the name is padded to in the prefix, so that the output of processes with names of any length lines up. @default the name's length */
  prefixWidth?: number;
  /** Arguments to this Node executable (node options, then the entry point). */
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Resolves true once the process serves; polled after every start. */
  isReady: () => Promise<boolean>;
  readyTimeoutMs: number;
  /** @default DEFAULT_RESTART_POLICY */
  restart?: RestartPolicy;
  /** How often readiness is polled. @default 200 */
  readyPollIntervalMs?: number;
  /** Where the supervisor's own messages go. @default console.error */
  log?: (message: string) => void;
  /** Where the process's output goes, line by line, already prefixed. @default process.stdout */
  output?: (line: string) => void;
  /** @default Date.now */
  now?: () => number;
}

const exitReason = (code: number | null, signal: NodeJS.Signals | null) => signal ?? `code ${code}`;

/**
 * One child process kept running: once it has been ready, an exit that nobody asked for (a crash, SIGKILL, the
 * out-of-memory killer) is logged and followed by a restart after a backoff, and the restarted process waits for
 * readiness as at the first start. An exit before the first readiness is the caller's to handle: a process that
 * cannot start at all (bad configuration, a port in use) fails the launch instead of restarting forever.
 */
export class SupervisedProcess {
  private readonly backoff: RestartBackoff;
  private readonly log: (message: string) => void;
  private readonly output: (line: string) => void;
  private readonly now: () => number;
  private child: ChildProcess | undefined;
  private startedAt = 0;
  private supervising = false;
  private stopping = false;
  private pendingRestart: NodeJS.Timeout | undefined;

  constructor(private readonly options: SupervisedProcessOptions) {
    this.backoff = new RestartBackoff(options.restart ?? DEFAULT_RESTART_POLICY);
    this.log = options.log ?? ((message) => console.error(message));
    this.output = options.output ?? ((line) => process.stdout.write(`${line}\n`));
    this.now = options.now ?? Date.now;
  }

  get name(): string {
    return this.options.name;
  }

  /** The running process's id; undefined while it waits to be restarted. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process and resolves once it is ready; rejects if it exits first or is not ready in time. */
  async start(): Promise<void> {
    const readiness = await this.waitUntilReady(this.spawn());
    if (!readiness.ready) throw new Error(`${this.name} ${readiness.problem}`);
    this.supervising = true;
  }

  /** From now on an exit is final: a restart that is waiting is cancelled, and none follows. */
  stopRestarting(): void {
    this.stopping = true;
    clearTimeout(this.pendingRestart);
  }

  /** Stops the process with SIGTERM and waits for it to exit and for the last of its output, restarting nothing. */
  async stop(): Promise<void> {
    this.stopRestarting();
    const child = this.child;
    if (!child || hasExited(child)) return;
    // 'close' rather than 'exit': its last lines (what it did while stopping) are still in the pipe when it exits.
    const closed = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGTERM');
    await closed;
  }

  private spawn(): ChildProcess {
    const child = spawn(process.execPath, this.options.args, {
      cwd: this.options.cwd,
      env: this.options.env,
      // The IPC channel tells the child when this process is gone, however it ended (see runMain).
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // A process group of its own: Ctrl-C on the terminal signals the launcher's group only, and the launcher stops
      // the children in order (the gateway first, which still reports usage to the subgraphs as it drains).
      detached: true,
    });
    this.child = child;
    this.startedAt = this.now();
    const prefix = `${this.name.padEnd(this.options.prefixWidth ?? 0)} | `;
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream?.on('data', (chunk: Buffer) => {
        const lines = (pending + chunk.toString()).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) this.output(prefix + line);
      });
    }
    child.once('exit', (code, signal) => this.onExit(code, signal));
    this.log(`${this.name} started (pid ${child.pid})`);
    return child;
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping || !this.supervising) return;
    this.child = undefined;
    const { attempt, delayMs } = this.backoff.next(this.now() - this.startedAt);
    this.log(`${this.name} exited (${exitReason(code, signal)}); restarting in ${formatDelay(delayMs)}, attempt ${attempt}`);
    this.pendingRestart = setTimeout(() => void this.restart(attempt), delayMs);
  }

  private async restart(attempt: number): Promise<void> {
    if (this.stopping) return;
    const readiness = await this.waitUntilReady(this.spawn());
    if (this.stopping) return;
    if (readiness.ready) this.log(`${this.name} is ready again after restart attempt ${attempt}`);
    // An exit before readiness has already scheduled the next attempt; a process that is merely slow is left running.
    else if (!readiness.exited) this.log(`${this.name} ${readiness.problem} after restart attempt ${attempt}`);
  }

  private async waitUntilReady(child: ChildProcess): Promise<Readiness> {
    let exit: string | undefined;
    child.once('exit', (code, signal) => (exit = exitReason(code, signal)));
    const pollIntervalMs = this.options.readyPollIntervalMs ?? 200;
    const deadline = this.now() + this.options.readyTimeoutMs;
    while (this.now() < deadline) {
      if (exit !== undefined) return { ready: false, exited: true, problem: `exited (${exit}) before it was ready` };
      if (await this.options.isReady().catch(() => false)) return { ready: true };
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
    }
    return { ready: false, exited: false, problem: `was not ready within ${this.options.readyTimeoutMs} ms` };
  }
}

type Readiness = { ready: true } | { ready: false; exited: boolean; problem: string };

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}
