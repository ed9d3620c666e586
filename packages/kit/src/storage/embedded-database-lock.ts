import { realpath } from 'node:fs/promises';
import {
  acquireProcessLock,
  describeLockOwner,
  liveLockOwner,
  LockHeldError,
  type LockOwner,
  type ProcessLock,
} from '../platform/process-lock.ts';

/**
 * Beside the database's folder, not in it: PGlite would take a file inside for part of its cluster. Named after the
 * folder's real path, so that two names for one folder (a symbolic link) share one lock.
 */
const lockFileOf = async (directory: string) => `${await realpath(directory)}.lock`;

/** An embedded database folder that another running process has open. */
export class EmbeddedDatabaseInUseError extends LockHeldError {
  constructor(directory: string, error: LockHeldError) {
    super(
      error.file,
      error.owner,
      `The embedded database ${directory} is already open in ${error.owner.pid === process.pid ? 'this process' : 'another process'}: ` +
        `${describeLockOwner(error.owner)}. Two processes writing one PGlite folder corrupt it; stop that process, or set DATA_DIR to another folder.`,
    );
    this.name = 'EmbeddedDatabaseInUseError';
  }
}

/**
 * Makes this process the one user of the embedded database in `directory` (which must exist), or throws
 * {@link EmbeddedDatabaseInUseError}: PGlite itself does not notice a second process on its folder, and two of them
 * corrupt it for good. `holder` names this process for whoever is refused, e.g. "the auth service".
 */
export async function lockEmbeddedDatabase(directory: string, holder: string): Promise<ProcessLock> {
  try {
    return await acquireProcessLock(await lockFileOf(directory), { holder });
  } catch (error) {
    throw error instanceof LockHeldError ? new EmbeddedDatabaseInUseError(directory, error) : error;
  }
}

/** Which running process has the embedded database in `directory` open, if any: for a check before starting anything. */
export async function embeddedDatabaseOwner(directory: string): Promise<LockOwner | undefined> {
  let lockFile: string;
  try {
    lockFile = await lockFileOf(directory);
  } catch {
    return undefined;
  }
  return liveLockOwner(lockFile);
}
