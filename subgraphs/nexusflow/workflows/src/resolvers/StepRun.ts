import type { StepRunResolvers } from '../__generated__/resolvers-types.ts';

export const StepRun: StepRunResolvers = {
  error: (stepRun) => stepRun.errorMessage ?? null,
};
