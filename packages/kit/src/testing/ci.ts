import { z } from 'zod';
import { parseConfig, type Environment } from '../platform/config.ts';

/** Set by CI systems (and by `.ci/run`) to any value but `false` or `0`. */
export const ciFlagSchema = z
  .string()
  .optional()
  .transform((value) => value !== undefined && value !== 'false' && value !== '0');

/** Whether the tests run under CI, where a committed `.only` and a missing test server both fail the run. */
export function runsUnderCi(env: Environment = process.env): boolean {
  return parseConfig(z.object({ CI: ciFlagSchema }), env).CI;
}
