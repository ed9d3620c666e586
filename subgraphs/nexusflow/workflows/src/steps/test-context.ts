import { expect } from 'vitest';
import { StepError, type StepContext } from './types.ts';

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

/** Resolves with the StepError the promise rejects with, and fails the test if it settles any other way. */
export async function stepFailure(promise: Promise<unknown>): Promise<StepError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the step to fail');
    },
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(StepError);
  return error as StepError;
}
