import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

/** How the event loop fared over one window. */
export interface LoopReading {
  /** Share of the window the loop spent running code, 0 to 1 (`performance.eventLoopUtilization`). */
  utilization: number;
  /** How late timers ran at the 99th percentile, in ms. */
  lateMs: number;
  /** The most requests in progress at once during the window. */
  concurrency: number;
}

export interface OverloadOptions {
  /** A window counts as overloaded when timers ran at least this late; 0 switches load shedding off. @default 50 */
  delayThresholdMs: number;
  /**
   * ...and the loop was this busy: a loop that is late while mostly idle is waiting for a CPU the machine gave to
   * something else, which shedding this gateway's requests would not help. @default 0.5
   */
  utilizationThreshold?: number;
  /**
   * ...and at least this many requests were in progress at once: a few requests on a machine short of CPU make the
   * loop late and busy too, but shedding is for floods. @default 8
   */
  minConcurrency?: number;
  /** How often the loop is read; 0 reads only when `sample()` is called (tests). @default 100 */
  windowMs?: number;
  /** Consecutive overloaded windows before shedding starts, so that one long task does not start it. @default 1 */
  sustainedWindows?: number;
  /** Shedding lasts at least this long once it starts, so that it does not flap. @default 1000 */
  holdMs?: number;
  /** Reads the loop over the window since the previous reading. @default monitorEventLoopDelay, eventLoopUtilization and `concurrency` */
  read?: () => LoopReading;
  /** The most requests in progress at once since the previous call, for the default readings. @default always 0 */
  concurrency?: () => number;
  /** @default performance.now */
  now?: () => number;
  onChange?: (overloaded: boolean) => void;
}

/** The loop's readings since the previous call, from Node's own monitors. */
function loopMonitor(concurrency: () => number): { read: () => LoopReading; close: () => void } {
  const resolutionMs = 10;
  const delays = monitorEventLoopDelay({ resolution: resolutionMs });
  delays.enable();
  let previous: EventLoopUtilization = performance.eventLoopUtilization();
  return {
    read() {
      const current = performance.eventLoopUtilization();
      const { utilization } = performance.eventLoopUtilization(current, previous);
      previous = current;
      // Delays are in nanoseconds and include the monitor's own resolution.
      const lateMs = delays.count > 0 ? Math.max(0, delays.percentile(99) / 1e6 - resolutionMs) : 0;
      delays.reset();
      return { utilization, lateMs, concurrency: concurrency() };
    },
    close: () => delays.disable(),
  };
}

/**
 * Tells when the gateway's event loop is falling behind because of its own work: under a flood, requests queue up
 * behind each other however cheap each one is, and every client waits. While overloaded, the gateway sheds what
 * costs most and matters least (large bodies, and documents it has not seen before) with 503 and Retry-After, so
 * that the operations its clients already use (known documents with cached plans) keep being answered promptly.
 */
export class OverloadDetector {
  private monitor: { read: () => LoopReading; close: () => void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private hotWindows = 0;
  private sheddingUntil = Number.NEGATIVE_INFINITY;
  private current = false;

  constructor(private readonly options: OverloadOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Starts watching the loop. Called once the gateway listens: start-up keeps the loop busy for seconds, which says
   * nothing about the traffic to come and must not make the first requests be shed.
   */
  start(): void {
    if (this.options.delayThresholdMs <= 0 || this.monitor) return;
    this.monitor = this.options.read
      ? { read: this.options.read, close: () => undefined }
      : loopMonitor(this.options.concurrency ?? (() => 0));
    const windowMs = this.options.windowMs ?? 100;
    if (windowMs > 0) {
      this.timer = setInterval(() => this.sample(), windowMs);
      this.timer.unref();
    }
  }

  get overloaded(): boolean {
    return this.current;
  }

  /** Reads the loop once and updates the verdict; runs every window by itself. */
  sample(): void {
    if (!this.monitor) return;
    const { utilization, lateMs, concurrency } = this.monitor.read();
    const hot =
      lateMs >= this.options.delayThresholdMs &&
      utilization >= (this.options.utilizationThreshold ?? 0.5) &&
      concurrency >= (this.options.minConcurrency ?? 8);
    this.hotWindows = hot ? this.hotWindows + 1 : 0;
    const now = this.now();
    if (this.hotWindows >= (this.options.sustainedWindows ?? 1)) this.sheddingUntil = now + (this.options.holdMs ?? 1000);
    const overloaded = now < this.sheddingUntil;
    if (overloaded !== this.current) {
      this.current = overloaded;
      this.options.onChange?.(overloaded);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.monitor?.close();
  }
}
