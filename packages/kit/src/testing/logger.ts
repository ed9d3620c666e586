import type { Logger } from '../platform/logger.ts';
import { createDeferred } from './deferred.ts';

export interface RecordedWarning {
  fields: unknown;
  message: string;
}

/** A logger that records warnings, so that tests can see what a component reported, and wait for a warning. */
export function recordingLogger() {
  const warnings: RecordedWarning[] = [];
  const listeners: ((message: string) => void)[] = [];
  const ignore = () => undefined;
  const logger = {
    warn(fields: unknown, message: string) {
      warnings.push({ fields, message });
      for (const listener of listeners) listener(message);
    },
    info: ignore,
    debug: ignore,
    error: ignore,
  } as unknown as Logger;
  const warned = (message: string): Promise<void> => {
    const deferred = createDeferred();
    if (warnings.some((warning) => warning.message === message)) deferred.resolve();
    else listeners.push((seen) => seen === message && deferred.resolve());
    return deferred.promise;
  };
  return { logger, warnings, warned };
}
