import { z } from 'zod';
import type { StepExecutor } from './types.ts';

/** Longer waits belong in a scheduled trigger, not in an execution kept open for weeks. */
export const MAX_DELAY_MS = 7 * 24 * 60 * 60 * 1000;

export const delayStepConfig = z.object({
  durationMs: z.number().int().min(1).max(MAX_DELAY_MS),
});

export type DelayStepConfig = z.output<typeof delayStepConfig>;

/** Waits by handing the delay to the engine, which can persist it, instead of holding a timer in this process. */
export function delayStep(): StepExecutor<DelayStepConfig> {
  return {
    type: 'delay',
    description: 'Waits for a fixed time before the workflow continues.',
    config: delayStepConfig,
    async execute(config) {
      return { kind: 'delayed', delayMs: config.durationMs, output: { delayedMs: config.durationMs } };
    },
  };
}
