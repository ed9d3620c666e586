import { z } from 'zod';
import { render } from './template.ts';
import type { StepExecutor } from './types.ts';

export const transformStepConfig = z.object({
  /** Any JSON value; its strings are rendered as templates. */
  template: z.unknown(),
});

export type TransformStepConfig = z.output<typeof transformStepConfig>;

export function transformStep(): StepExecutor<TransformStepConfig> {
  return {
    type: 'transform',
    description: 'Builds a new value from the input and earlier steps’ outputs.',
    config: transformStepConfig,
    async execute(config, context) {
      return { kind: 'completed', output: render(config.template, context) };
    },
  };
}
