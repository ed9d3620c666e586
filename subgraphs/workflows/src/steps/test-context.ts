import type { StepContext } from './types.ts';

/** A step context for tests: override only what a test is about. */
export function stepContext(overrides: Partial<StepContext> = {}): StepContext {
  return {
    input: {},
    steps: {},
    execution: { id: 'exec-1', workflowId: 'wf-1', tenantId: 'tenant-1', ownerId: null },
    idempotencyKey: 'exec-1:step',
    signal: new AbortController().signal,
    ...overrides,
  };
}
