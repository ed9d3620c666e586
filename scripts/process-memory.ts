import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface ProcessRow {
  pid: number;
  parent: number;
  /** Resident set size in bytes: what the out-of-memory killer and a container's memory limit count. */
  bytes: number;
}

/** Every process of this machine, from `ps` (Linux and macOS alike). */
async function processTable(): Promise<ProcessRow[]> {
  const { stdout } = await run('ps', ['-A', '-o', 'pid=,ppid=,rss=']);
  return stdout
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter((fields) => fields.length === 3 && fields.every(Number.isFinite))
    .map(([pid, parent, kilobytes]) => ({ pid: pid!, parent: parent!, bytes: kilobytes! * 1024 }));
}

/** Bytes as people read memory sizes: `318 MB`, `1.42 GB` (decimal units, as `ps` and `top` users expect). */
export function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${Math.round(bytes / 1e6)} MB`;
}

export interface ProcessMemory {
  name: string;
  bytes: number;
}

/**
 * The resident memory of each named process with every process it started (tsx's esbuild, for one), leaving out the
 * processes started by another named one and those already gone; and their total. Empty where `ps` cannot be run.
 */
export async function memoryOf(
  processes: readonly { name: string; pid: number | undefined }[],
): Promise<{ total: number; each: ProcessMemory[] }> {
  let table: ProcessRow[];
  try {
    table = await processTable();
  } catch {
    return { total: 0, each: [] };
  }
  const named = new Set(processes.flatMap(({ pid }) => (pid === undefined ? [] : [pid])));
  const byPid = new Map(table.map((row) => [row.pid, row]));
  const childrenOf = new Map<number, ProcessRow[]>();
  for (const row of table) childrenOf.set(row.parent, [...(childrenOf.get(row.parent) ?? []), row]);
  const treeBytes = (pid: number): number =>
    (byPid.get(pid)?.bytes ?? 0) +
    (childrenOf.get(pid) ?? []).filter((child) => !named.has(child.pid)).reduce((sum, child) => sum + treeBytes(child.pid), 0);
  const each = processes
    .filter(({ pid }) => pid !== undefined && byPid.has(pid))
    .map(({ name, pid }) => ({ name, bytes: treeBytes(pid!) }));
  return { total: each.reduce((sum, { bytes }) => sum + bytes, 0), each };
}
