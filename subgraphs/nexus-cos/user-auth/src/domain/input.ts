import { badUserInput } from '@nexusflow/kit';
import type { z } from 'zod';

/** The parsed input, or BAD_USER_INPUT naming the first field that is wrong (as `input.<field>`). */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix = 'input'): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = [prefix, ...issue.path].filter((part) => part !== '').join('.');
  throw badUserInput(`"${field}" ${issue.message}`, { field });
}
