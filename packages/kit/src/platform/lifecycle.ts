import { ConfigError } from './config.ts';
import { LockHeldError } from './process-lock.ts';

export interface Stoppable {
  /** Drains work in flight and releases every resource; the process should then exit by itself. */
  close(): Promise<void>;
}

export interface MainOptions {
  /** How long shutdown may take before the process exits anyway. @default 15000 */
  shutdownTimeoutMs?: number;
  log?: (message: string, error?: unknown) => void;
}

const defaultLog = (message: string, error?: unknown) => {
  if (error === undefined) console.error(message);
  else console.error(message, error instanceof Error ? (error.stack ?? error.message) : error);
};

/**
 * The shape of every NexusFlow entry point: start, then stop cleanly on SIGTERM or SIGINT, or when the supervisor that
 * started it over an IPC channel is gone.
 * Configuration problems and a lock held by another process (e.g. on an embedded database) are printed as one
 * message and exit with status 1, as do other start-up failures (with their stack).
 */
export async function runMain(start: () => Promise<Stoppable>, options: MainOptions = {}): Promise<void> {
  const log = options.log ?? defaultLog;
  let service: Stoppable;
  try {
    service = await start();
  } catch (error) {
    // Both say what to do; a stack trace would only bury that.
    if (error instanceof ConfigError || error instanceof LockHeldError) log(error.message);
    else log('Failed to start:', error);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const deadline = setTimeout(() => {
      log(`Shutdown took longer than ${options.shutdownTimeoutMs ?? 15_000} ms; exiting`);
      process.exit(1);
    }, options.shutdownTimeoutMs ?? 15_000);
    deadline.unref();
    service.close().then(
      () => {
        clearTimeout(deadline);
        process.exitCode = 0;
        process.exit();
      },
      (error: unknown) => {
        log(`Shutdown after ${signal} failed:`, error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Started by a supervisor (the launcher) with an IPC channel: the channel closes when the supervisor is gone, even
  // killed by SIGKILL, which it cannot pass on; an orphan would go on holding its ports and its embedded database.
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => stop('SIGTERM'));
  }
}
