import type { Logger } from '../platform/logger.ts';
import { PeriodicTask } from '../platform/periodic-task.ts';

export interface DueWorkOptions<Claimed> {
  logger: Logger;
  /** What the log says when a pass fails; the next pass runs as planned all the same. */
  failureMessage: string;
  /** Claims what is due at `now` for this instance (see {@link claimDue}). */
  claim: (now: Date) => Promise<Claimed[]>;
  /** Does one claimed piece of work; resolves to whether it counts as done by this pass. */
  handle: (claimed: Claimed, now: Date) => Promise<boolean>;
  now?: () => Date;
}

/**
 * A scheduler's pass: claim what is due, then do it, one piece after the other. Every instance runs passes on its
 * own timer; the claim decides which instance does which piece. `tick()` runs one pass now (tests, with their clock).
 */
export class DueWorkTicker<Claimed> {
  private readonly now: () => Date;
  private readonly timer: PeriodicTask;

  constructor(private readonly options: DueWorkOptions<Claimed>) {
    this.now = options.now ?? (() => new Date());
    this.timer = new PeriodicTask(() => this.tick(), { logger: options.logger, failureMessage: options.failureMessage });
  }

  start(intervalMs: number): void {
    this.timer.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.timer.stop();
  }

  /** One pass at the clock's time; returns how many pieces of work this instance did. */
  async tick(): Promise<number> {
    const now = this.now();
    let done = 0;
    for (const claimed of await this.options.claim(now)) if (await this.options.handle(claimed, now)) done += 1;
    return done;
  }
}
