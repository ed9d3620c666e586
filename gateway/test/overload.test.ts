import { describe, expect, it } from 'vitest';
import { OverloadDetector, type LoopReading } from '../src/admission/overload.ts';

const HOT: LoopReading = { utilization: 0.9, lateMs: 120, concurrency: 40 };
const COOL: LoopReading = { utilization: 0.2, lateMs: 2, concurrency: 3 };

/** A detector read by hand, on a clock the test moves. */
function detector(readings: LoopReading[], options: { delayThresholdMs?: number } = {}) {
  let clock = 0;
  const changes: boolean[] = [];
  const detector = new OverloadDetector({
    delayThresholdMs: options.delayThresholdMs ?? 50,
    windowMs: 0,
    read: () => readings.shift() ?? COOL,
    now: () => clock,
    onChange: (overloaded) => changes.push(overloaded),
  });
  detector.start();
  return {
    detector,
    changes,
    window: (count = 1) => {
      for (let i = 0; i < count; i++) {
        clock += 100;
        detector.sample();
      }
    },
  };
}

describe('telling when the event loop is overloaded', () => {
  it('starts shedding after a window in which the loop was busy and late', () => {
    const { detector: overload, window } = detector([COOL, HOT]);
    window(1);
    expect(overload.overloaded).toBe(false);
    window(1);
    expect(overload.overloaded).toBe(true);
  });

  it('waits for the number of such windows in a row it is told to', () => {
    let clock = 0;
    const readings = [HOT, COOL, HOT, HOT];
    const overload = new OverloadDetector({
      delayThresholdMs: 50,
      sustainedWindows: 2,
      windowMs: 0,
      read: () => readings.shift() ?? COOL,
      now: () => (clock += 100),
    });
    overload.start();
    overload.sample();
    overload.sample();
    overload.sample();
    expect(overload.overloaded).toBe(false);
    overload.sample();
    expect(overload.overloaded).toBe(true);
  });

  it('ignores a late loop that is mostly idle: the machine, not the gateway, is busy', () => {
    const { detector: overload, window } = detector([
      { utilization: 0.3, lateMs: 300, concurrency: 40 },
      { utilization: 0.3, lateMs: 300, concurrency: 40 },
    ]);
    window(2);
    expect(overload.overloaded).toBe(false);
  });

  it('keeps shedding for a second after the last overloaded window, then stops, and says so each time', () => {
    const { detector: overload, window, changes } = detector([HOT]);
    window(1);
    window(9);
    expect(overload.overloaded).toBe(true);
    window(1);
    expect(overload.overloaded).toBe(false);
    expect(changes).toEqual([true, false]);
  });

  it('ignores a late, busy loop with few requests in progress: a machine short of CPU, not a flood', () => {
    const { detector: overload, window } = detector([{ utilization: 0.95, lateMs: 300, concurrency: 3 }]);
    window(1);
    expect(overload.overloaded).toBe(false);
  });

  it('never sheds when switched off', () => {
    const { detector: overload, window } = detector([HOT, HOT], { delayThresholdMs: 0 });
    window(2);
    expect(overload.overloaded).toBe(false);
  });
});
