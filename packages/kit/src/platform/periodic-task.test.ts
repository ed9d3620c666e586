import { describe, expect, it } from 'vitest';
import { createDeferred } from '../testing/deferred.ts';
import { recordingLogger } from '../testing/logger.ts';
import { PeriodicTask } from './periodic-task.ts';

describe('a periodic task', () => {
  it('runs one pass at a time: a pass asked for while one runs is that one', async () => {
    const release = createDeferred();
    let passes = 0;
    const task = new PeriodicTask(
      async () => {
        passes += 1;
        await release.promise;
      },
      { logger: recordingLogger().logger, failureMessage: 'failed' },
    );

    const first = task.runNow();
    const second = task.runNow();
    expect(passes).toBe(1);
    release.resolve();
    await Promise.all([first, second]);
    await task.runNow();
    expect(passes).toBe(2);
  });

  it('logs a failed pass instead of throwing it, and runs the next', async () => {
    const { logger, warnings } = recordingLogger();
    let calls = 0;
    const task = new PeriodicTask(
      async () => {
        calls += 1;
        if (calls === 1) throw new Error('database away');
      },
      { logger, failureMessage: 'pruning failed' },
    );

    await task.runNow();
    await task.runNow();
    expect(calls).toBe(2);
    expect(warnings.map(({ message }) => message)).toEqual(['pruning failed']);
  });

  it('runs at start when asked to, and stopping waits for the pass in progress', async () => {
    const release = createDeferred();
    let finished = false;
    const task = new PeriodicTask(
      async () => {
        await release.promise;
        finished = true;
      },
      { logger: recordingLogger().logger, failureMessage: 'failed', immediately: true },
    ).start(0);

    const stopped = task.stop();
    release.resolve();
    await stopped;
    expect(finished).toBe(true);
  });
});
