import { parseConfig, secretOrDevelopmentDefault, sharedSecretSchema, type Environment } from '@nexusflow/kit/core';
import { z } from 'zod';

const usageSettingsSchema = z.object({
  days: z.coerce.number().int().min(1).max(366).optional(),
  url: z.url().optional(),
  SCHEMA_USAGE_URL: z.url().optional(),
  INTERNAL_SECRET: sharedSecretSchema,
});

/** What `--usage-days` and `--usage-url` (else SCHEMA_USAGE_URL, else the graph's analytics routing URL) ask for. */
export interface UsageSettings {
  days: number;
  url: string | undefined;
  internalSecret: string;
}

/** The usage settings of the command line and environment; undefined without `--usage-days`, which leaves the check as it was. */
export function usageSettingsOf(flags: { days?: string | undefined; url?: string | undefined }, env: Environment = process.env) {
  const parsed = parseConfig(usageSettingsSchema, {
    ...(flags.days === undefined ? {} : { days: flags.days }),
    ...(flags.url === undefined ? {} : { url: flags.url }),
    SCHEMA_USAGE_URL: env.SCHEMA_USAGE_URL,
    INTERNAL_SECRET: env.INTERNAL_SECRET,
  });
  if (parsed.days === undefined) {
    if (parsed.url !== undefined) throw new Error('--usage-url needs --usage-days <n>');
    return undefined;
  }
  return {
    days: parsed.days,
    url: parsed.url ?? parsed.SCHEMA_USAGE_URL,
    internalSecret: secretOrDevelopmentDefault(parsed.INTERNAL_SECRET),
  } satisfies UsageSettings;
}
