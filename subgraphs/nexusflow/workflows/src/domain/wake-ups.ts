import type { Logger } from '@nexusflow/kit';

/** The longest delay Node's timers take; a later instant is reached in several wake-ups. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface WakeUpsOptions {
  /** Does whatever is due now; resolves with the instant (epoch milliseconds) the next work it knows of is due, or null. */
  work: () => Promise<number | null>;
  /** Work is looked for at least this often, whatever wake-ups were asked for. @default 1000 */
  pollIntervalMs?: number;
  logger: Logger;
  now?: () => number;
}

/**
 * Runs `work` when the earliest instant it was asked for comes, with one process timer however many instants are
 * pending, and at least every poll interval, which is how work that no wake-up of this process covers (a timer set by
 * another process that died, a wake-up lost to a failure) is found. Passes never overlap: one asked for while another
 * runs follows it.
 */
export class WakeUps {
  private readonly pollIntervalMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** When {@link timer} fires; Infinity when none is armed. */
  private armedFor = Number.POSITIVE_INFINITY;
  private poller: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: WakeUpsOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** Runs a pass now, then every poll interval and at every instant asked for. */
  start(): void {
    this.poller = setInterval(() => this.run(), this.pollIntervalMs);
    this.poller.unref();
    this.run();
  }

  /** Makes sure a pass runs at `at` (epoch milliseconds) or soon after; an instant already past runs one at once. */
  wakeAt(at: number): void {
    if (this.stopped || at >= this.armedFor) return;
    clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(
      () => {
        this.armedFor = Number.POSITIVE_INFINITY;
        this.run();
      },
      Math.min(Math.max(0, at - this.now()), MAX_TIMER_DELAY_MS),
    );
    // Timers are durable elsewhere; this one must not keep a stopping process alive.
    this.timer.unref();
  }

  private run(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.run();
      }
    });
  }

  private async pass(): Promise<void> {
    try {
      const next = await this.options.work();
      if (next !== null) this.wakeAt(next);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'timer pass failed; looking again on the next poll');
    }
  }

  /** No pass starts after this; resolves once the one in flight, if any, has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poller);
    clearTimeout(this.timer);
    this.armedFor = Number.POSITIVE_INFINITY;
    await this.running;
  }
}
