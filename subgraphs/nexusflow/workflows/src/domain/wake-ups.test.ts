import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDeferred, recordingLogger } from '@nexusflow/kit/testing';
import { WakeUps } from './wake-ups.ts';

const START = Date.parse('2030-01-01T00:00:00.000Z');

/** Work that records when each pass ran (on the faked clock) and answers what the test says is due next. */
function recordedWork() {
  const passes: number[] = [];
  let next: number | null = null;
  return {
    passes,
    dueNext(at: number | null) {
      next = at;
    },
    work: async () => {
      passes.push(Date.now() - START);
      return next;
    },
  };
}

describe('wake-ups of the timer service', () => {
  const running: WakeUps[] = [];

  beforeEach(() => {
    vi.useFakeTimers({ now: START });
  });

  afterEach(async () => {
    for (const wakeUps of running.splice(0)) await wakeUps.stop();
    vi.useRealTimers();
  });

  function start(work: () => Promise<number | null>, pollIntervalMs = 60_000) {
    const wakeUps = new WakeUps({ work, pollIntervalMs, logger: recordingLogger().logger });
    running.push(wakeUps);
    wakeUps.start();
    return wakeUps;
  }

  it('looks for due work at once on start, then at the instant asked for, not a millisecond before', async () => {
    const recorded = recordedWork();
    const wakeUps = start(recorded.work);
    await vi.advanceTimersByTimeAsync(0);
    wakeUps.wakeAt(START + 2100);

    await vi.advanceTimersByTimeAsync(2099);
    expect(recorded.passes).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(recorded.passes).toEqual([0, 2100]);
  });

  it('keeps one wake-up, the earliest asked for, however many instants are pending', async () => {
    const recorded = recordedWork();
    const wakeUps = start(recorded.work);
    await vi.advanceTimersByTimeAsync(0);
    wakeUps.wakeAt(START + 31_000);
    wakeUps.wakeAt(START + 150);
    wakeUps.wakeAt(START + 5000);

    await vi.advanceTimersByTimeAsync(31_000);
    expect(recorded.passes).toEqual([0, 150]);
  });

  it('arms itself for the next due instant the work reports, so that a chain of timers needs no poll', async () => {
    const recorded = recordedWork();
    recorded.dueNext(START + 500);
    start(recorded.work);
    await vi.advanceTimersByTimeAsync(499);
    recorded.dueNext(START + 31_000);
    await vi.advanceTimersByTimeAsync(1);
    recorded.dueNext(null);
    await vi.advanceTimersByTimeAsync(31_000);

    expect(recorded.passes).toEqual([0, 500, 31_000]);
  });

  it('looks again every poll interval, which finds work no wake-up of this process covers', async () => {
    const recorded = recordedWork();
    start(recorded.work, 1000);
    await vi.advanceTimersByTimeAsync(3000);

    expect(recorded.passes).toEqual([0, 1000, 2000, 3000]);
  });

  it('runs an instant already past at once', async () => {
    const recorded = recordedWork();
    const wakeUps = start(recorded.work);
    await vi.advanceTimersByTimeAsync(10);
    wakeUps.wakeAt(START - 5000);
    await vi.advanceTimersByTimeAsync(0);

    expect(recorded.passes).toEqual([0, 10]);
  });

  it('never runs two passes at once: a wake-up during a pass runs one more pass after it', async () => {
    const release = createDeferred();
    let inFlight = 0;
    let mostAtOnce = 0;
    const passes: number[] = [];
    const wakeUps = start(async () => {
      inFlight += 1;
      mostAtOnce = Math.max(mostAtOnce, inFlight);
      passes.push(Date.now() - START);
      if (passes.length === 1) await release.promise;
      inFlight -= 1;
      return null;
    });
    wakeUps.wakeAt(START + 100);
    wakeUps.wakeAt(START);
    await vi.advanceTimersByTimeAsync(200);
    expect(passes).toEqual([0]);

    release.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(passes).toEqual([0, 200]);
    expect(mostAtOnce).toBe(1);
  });

  it('reports a failed pass and looks again on the next poll', async () => {
    const { logger, warnings } = recordingLogger();
    const passes: number[] = [];
    const wakeUps = new WakeUps({
      work: async () => {
        passes.push(Date.now() - START);
        if (passes.length === 1) throw new Error('the database is unreachable');
        return null;
      },
      pollIntervalMs: 1000,
      logger,
    });
    running.push(wakeUps);
    wakeUps.start();
    await vi.advanceTimersByTimeAsync(1000);

    expect(passes).toEqual([0, 1000]);
    expect(warnings.map((warning) => warning.message)).toEqual(['timer pass failed; looking again on the next poll']);
  });

  it('starts no pass once stopped, and waits for the one in flight', async () => {
    const release = createDeferred();
    const passes: number[] = [];
    const wakeUps = start(async () => {
      passes.push(Date.now() - START);
      await release.promise;
      return START + 100;
    }, 1000);
    await vi.advanceTimersByTimeAsync(0);
    const stopped = wakeUps.stop();
    wakeUps.wakeAt(START + 50);
    release.resolve();
    await stopped;
    await vi.advanceTimersByTimeAsync(5000);

    expect(passes).toEqual([0]);
  });
});
