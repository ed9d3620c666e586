import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { z } from 'zod';

const lockOwnerSchema = z.object({
  pid: z.number().int().positive(),
  hostname: z.string(),
  /** Linux's id of the kernel's current boot: a pid recorded before a reboot names nobody now. */
  bootId: z.string().optional(),
  /** When the owner started, in clock ticks since boot (Linux): tells the owner from a later process given the same pid. */
  processStart: z.string().optional(),
  /** Tells this lock from a later one of the same process, so that releasing never removes someone else's lock. */
  token: z.string(),
  acquiredAt: z.string(),
  /** What holds the lock, for people: e.g. "the auth subgraph". */
  holder: z.string(),
  /** What else helps a person find the holder, e.g. the port it serves on. */
  details: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
});

/** The process that holds a lock file, as it recorded itself. */
export type LockOwner = z.output<typeof lockOwnerSchema>;

/** A lock file held by a process that still runs. */
export class LockHeldError extends Error {
  constructor(
    readonly file: string,
    readonly owner: LockOwner,
    message = `${file} is held by ${describeLockOwner(owner)}`,
  ) {
    super(message);
    this.name = 'LockHeldError';
  }
}

/** E.g. "the auth subgraph (pid 1234, since 2025-01-31T10:00:00.000Z)", naming the machine when it is another one. */
export function describeLockOwner(owner: LockOwner): string {
  const where = owner.hostname === hostname() ? '' : ` on ${owner.hostname}`;
  return `${owner.holder} (pid ${owner.pid}${where}, since ${owner.acquiredAt})`;
}

export interface ProcessLockOptions {
  /** What holds the lock, as a person would name it: e.g. "the auth subgraph". */
  holder: string;
  /** Recorded with the lock for whoever finds it held, e.g. `{ gatewayPort: 8000 }`. @default {} */
  details?: Record<string, string | number>;
}

export interface ProcessLock {
  readonly file: string;
  readonly owner: LockOwner;
  /** Removes the lock file if it is still this lock. */
  release(): Promise<void>;
}

function readProcFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const currentBootId = (): string | undefined => readProcFile('/proc/sys/kernel/random/boot_id')?.trim();

/** Field 22 of /proc/<pid>/stat; the process name before it may hold spaces and parentheses, so fields count from the last ")". */
function processStartOf(pid: number): string | undefined {
  const stat = readProcFile(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the owner still runs. Where Linux tells the boot and the process's start time, a pid that was reused by a
 * later process (after a crash, a reboot, or in a restarted container, where pids are small and repeat) does not count.
 * A lock taken on another machine (a shared folder) cannot be judged from here, so it counts as held.
 */
function isRunning(owner: LockOwner): boolean {
  if (owner.hostname !== hostname()) return true;
  const bootId = currentBootId();
  if (owner.bootId !== undefined && bootId !== undefined && owner.bootId !== bootId) return false;
  if (!processExists(owner.pid)) return false;
  const started = processStartOf(owner.pid);
  return owner.processStart === undefined || started === undefined || owner.processStart === started;
}

function parseOwner(raw: string): LockOwner | undefined {
  try {
    const parsed = lockOwnerSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function readLockFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The owner of the lock file if it still runs; undefined when there is no lock, or only one left by a process that is gone. */
export async function liveLockOwner(file: string): Promise<LockOwner | undefined> {
  const raw = await readLockFile(file);
  const owner = raw === undefined ? undefined : parseOwner(raw);
  return owner && isRunning(owner) ? owner : undefined;
}

/** Tokens of the locks this process holds, by file. */
const held = new Map<string, string>();

function releaseIfOurs(file: string, token: string): void {
  try {
    if (parseOwner(readFileSync(file, 'utf8'))?.token === token) unlinkSync(file);
  } catch {
    // Already gone.
  }
}

let releasesOnExit = false;

function releaseOnExit(): void {
  if (releasesOnExit) return;
  releasesOnExit = true;
  // A process that exits without releasing (process.exit after a failed start) leaves nothing for the next one to judge.
  process.once('exit', () => {
    for (const [file, token] of held) releaseIfOurs(file, token);
  });
}

/** Links `candidate` to `file` unless `file` exists: atomic, and the record appears whole or not at all. */
async function linkUnlessPresent(candidate: string, file: string): Promise<boolean> {
  try {
    await link(candidate, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Removes a lock left by a process that is gone. It is first renamed aside (atomic), so that when two processes find
 * the same stale lock, the one that comes second sees that it moved a fresh lock instead, and puts that one back.
 */
async function removeStaleLock(file: string, staleRecord: string, token: string): Promise<void> {
  const aside = `${file}.${token}.stale`;
  try {
    await rename(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    if ((await readLockFile(aside)) !== staleRecord) await linkUnlessPresent(aside, file);
  } finally {
    await rm(aside, { force: true });
  }
}

const ACQUIRE_ATTEMPTS = 5;

/**
 * Makes this process the one owner of `file` (created with its folder), or throws {@link LockHeldError} naming the
 * owner that still runs. A lock left by a process that died (SIGKILL, a crash, power loss) is taken over at once.
 */
export async function acquireProcessLock(file: string, options: ProcessLockOptions): Promise<ProcessLock> {
  const bootId = currentBootId();
  const processStart = processStartOf(process.pid);
  const owner: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    ...(bootId === undefined ? {} : { bootId }),
    ...(processStart === undefined ? {} : { processStart }),
    token: randomUUID(),
    acquiredAt: new Date().toISOString(),
    holder: options.holder,
    details: options.details ?? {},
  };
  await mkdir(dirname(file), { recursive: true });
  const candidate = `${file}.${owner.token}.tmp`;
  await writeFile(candidate, `${JSON.stringify(owner)}\n`);
  try {
    for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
      if (await linkUnlessPresent(candidate, file)) {
        held.set(file, owner.token);
        releaseOnExit();
        return {
          file,
          owner,
          async release() {
            if (held.get(file) !== owner.token) return;
            held.delete(file);
            releaseIfOurs(file, owner.token);
          },
        };
      }
      const record = await readLockFile(file);
      if (record === undefined) continue;
      const current = parseOwner(record);
      if (current && isRunning(current)) throw new LockHeldError(file, current);
      await removeStaleLock(file, record, owner.token);
    }
    throw new Error(`Could not take ${file}: other processes kept taking it first`);
  } finally {
    await rm(candidate, { force: true });
  }
}
