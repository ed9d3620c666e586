import { readFile } from 'node:fs/promises';
import { readYaml } from './yaml.ts';
import { z } from 'zod';

const reason = z.string({ error: 'every acknowledgement needs a reason' }).trim().min(1, 'every acknowledgement needs a reason');

// The reason first, so that an entry without one says so rather than matching none of the three shapes.
const acknowledgementSchema = z.looseObject({ reason }).pipe(
  z.union([
    z.object({ change: z.string(), path: z.string(), reason }).strict(),
    // `source`: where the operation is (a file or manifest, as the check names it), when several clients share a name.
    z.object({ operation: z.string(), source: z.string().optional(), reason }).strict(),
    z.object({ lint: z.string(), path: z.string(), reason }).strict(),
  ]),
);

const fileSchema = z.object({ acknowledged: z.array(acknowledgementSchema).nullish() });

/**
 * A reviewed exception, committed with the change it excuses: a breaking or dangerous change
 * (`change` type and `path`), a client operation that will stop validating (`operation`), or a lint
 * error (`lint` rule and `path`).
 */
export type Acknowledgement = z.output<typeof acknowledgementSchema>;

export async function readAcknowledgements(file: string | undefined): Promise<Acknowledgement[]> {
  if (!file) return [];
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  const parsed = fileSchema.safeParse(readYaml(file, raw));
  if (!parsed.success) {
    throw new Error(`${file}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data.acknowledged ?? [];
}

export function describeAcknowledgement(entry: Acknowledgement): string {
  if ('change' in entry) return `change ${entry.change} at ${entry.path}`;
  if ('operation' in entry) return `operation ${entry.operation}${entry.source ? ` in ${entry.source}` : ''}`;
  return `lint ${entry.lint} at ${entry.path}`;
}

/** Tracks which acknowledgements were needed, so that ones no longer needed can be reported. */
export class AcknowledgementLedger {
  private readonly used = new Set<Acknowledgement>();

  constructor(private readonly entries: Acknowledgement[]) {}

  private take(match: (entry: Acknowledgement) => boolean): string | undefined {
    const entry = this.entries.find(match);
    if (!entry) return undefined;
    this.used.add(entry);
    return entry.reason;
  }

  change(type: string, path: string | undefined): string | undefined {
    return this.take((entry) => 'change' in entry && entry.change === type && entry.path === path);
  }

  /** An acknowledgement of the operation `name` at `source`: one without a source covers that name wherever it is. */
  operation(name: string, source: string): string | undefined {
    return this.take(
      (entry) => 'operation' in entry && entry.operation === name && (entry.source === undefined || source.startsWith(entry.source)),
    );
  }

  lint(rule: string, path: string): string | undefined {
    return this.take((entry) => 'lint' in entry && entry.lint === rule && entry.path === path);
  }

  unused(): Acknowledgement[] {
    return this.entries.filter((entry) => !this.used.has(entry));
  }
}
