import { z } from 'zod';

/** BCP 47, canonicalised (`pt-br` → `pt-BR`) by the runtime's own Intl data. */
const languageTag = z
  .string()
  .trim()
  .transform((tag, context) => {
    try {
      const [canonical] = Intl.getCanonicalLocales(tag);
      if (canonical) return canonical;
    } catch {
      // Intl throws a RangeError for a malformed tag: reported below like an empty one.
    }
    context.addIssue({ code: 'custom', message: 'must be a BCP 47 language tag such as "en" or "pt-BR"' });
    return z.NEVER;
  });

export const contentMetadataSchema = z.object({
  title: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  description: z
    .string()
    .trim()
    .max(5000, 'must be at most 5000 characters')
    .nullish()
    .transform((text) => (text ? text : null)),
  tags: z
    .array(z.string().trim().toLowerCase().min(1, 'must not be empty').max(40, 'must be at most 40 characters'))
    .max(20, 'must hold at most 20 tags')
    .nullish()
    .transform((tags) => [...new Set(tags ?? [])]),
  language: languageTag,
  durationSeconds: z
    .number()
    .int()
    .min(1, 'must be at least 1')
    .max(86_400, 'must be at most 86400')
    .nullish()
    .transform((value) => value ?? null),
});

export type ContentMetadata = z.output<typeof contentMetadataSchema>;

export const regionSchema = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 region code such as "DE"');

export const rightsWindowSchema = z
  .object({
    startsAt: z.date(),
    endsAt: z
      .date()
      .nullish()
      .transform((value) => value ?? null),
    regions: z
      .array(regionSchema)
      .min(1, 'must name at least one region')
      .max(250, 'must name at most 250 regions')
      .transform((regions) => [...new Set(regions)].sort()),
  })
  .refine((window) => window.endsAt === null || window.endsAt > window.startsAt, { path: ['endsAt'], message: 'must be after startsAt' });

export type RightsWindowGrant = z.output<typeof rightsWindowSchema>;

export const reasonSchema = z.string().trim().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters');
