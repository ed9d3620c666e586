import type { z } from 'zod';
import { badUserInput } from './errors.ts';

/**
 * Parses a resolver's `input` with `schema`; the first problem becomes BAD_USER_INPUT naming its field (its path under
 * `path`, dot-separated, e.g. `input.regions.0`), so that a client learns which value to fix.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, path: readonly string[] = []): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = [...path, ...issue.path.map(String)].join('.');
  throw badUserInput(`"${field}" ${issue.message}`, { field });
}

/** How many items a page asked for with `first` holds: never fewer than none, never more than `max`. */
export function pageSize(first: number, max: number): number {
  return Math.min(Math.max(first, 0), max);
}
