import type { Logger } from './logger.ts';

export interface PeriodicTaskOptions {
  logger: Logger;
  /** What the log says when a pass fails; the next pass runs as planned all the same. */
  failureMessage: string;
  /** Run a pass at start too, not only after the first interval. @default false */
  immediately?: boolean;
}

/**
 * A background pass (a ticker, a pruning, a report sender) run every interval by a timer that keeps no process alive.
 * Never two passes at once: one due while the last still runs is skipped. A failure is logged, never thrown.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly options: PeriodicTaskOptions,
  ) {}

  /** Starts the timer; an interval of 0 runs no pass by timer (a test, or another process, runs them). */
  start(intervalMs: number): this {
    if (this.options.immediately) void this.runNow();
    if (intervalMs > 0) {
      this.timer = setInterval(() => void this.runNow(), intervalMs);
      this.timer.unref();
    }
    return this;
  }

  /** A pass now, unless one is running, which is then what this waits for. */
  runNow(): Promise<void> {
    this.running ??= this.pass()
      .then(() => undefined)
      .catch((error: unknown) => this.options.logger.warn({ err: error }, this.options.failureMessage))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Stops the timer and waits for the pass in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
