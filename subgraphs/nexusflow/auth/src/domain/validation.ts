import { z } from 'zod';

export const registrationSchema = z.object({
  // Normalised before validation, so that " Ada@Example.com " is accepted and stored as one address.
  email: z.preprocess(
    (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
    z.email('is not a valid email address').max(254),
  ),
  password: z.string().min(10, 'must be at least 10 characters').max(256, 'must be at most 256 characters'),
  name: z.string().trim().min(1, 'must not be empty').max(200),
  tenantName: z.string().trim().min(1, 'must not be empty').max(200),
});

export type Registration = z.output<typeof registrationSchema>;

export interface FieldProblem {
  field: string;
  problem: string;
}

export function fieldProblems(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({ field: issue.path.join('.'), problem: issue.message }));
}

export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return slug || 'tenant';
}
