import { readFile, unlink } from 'node:fs/promises';
import { readYaml } from './yaml.ts';
import { z } from 'zod';

const pendingPublicationSchema = z
  .object({
    /** Why the working tree may be ahead of what production serves for now, e.g. "publish after mobile 5.3 ships". */
    reason: z.string().trim().min(1, 'a pending publication needs a reason'),
  })
  .strict();

/**
 * A reviewed note, committed with a schema change, that the change is not published yet on purpose: without it, a
 * check run with `requirePublished` fails while the working supergraph differs from the published one.
 */
export type PendingPublication = z.output<typeof pendingPublicationSchema>;

/** Undefined when there is no such file. */
export async function readPendingPublication(file: string | undefined): Promise<PendingPublication | undefined> {
  if (!file) return undefined;
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const parsed = pendingPublicationSchema.safeParse(readYaml(file, raw));
  if (!parsed.success) {
    throw new Error(`${file}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** After a publication the note has done its job; true when there was one to remove. */
export async function removePendingPublication(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
