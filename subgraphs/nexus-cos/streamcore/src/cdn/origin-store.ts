import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';

/**
 * Where the CDN edge finds what it serves: the packager's segments, and the manifests streamcore writes. A directory
 * here; an object store (S3, GCS) implements the same two calls.
 */
export interface OriginStore {
  /** The object's bytes, or undefined when there is none. */
  read(key: string): Promise<Uint8Array | undefined>;
  write(key: string, bytes: Uint8Array | string): Promise<void>;
}

/** Keys are relative paths of plain parts: nothing climbs out of the origin. */
export function isOriginKey(key: string): boolean {
  const parts = key.split('/');
  return parts.length > 0 && parts.every((part) => /^[A-Za-z0-9._-]+$/.test(part) && part !== '.' && part !== '..');
}

function requireOriginKey(key: string): string {
  if (!isOriginKey(key)) throw new Error(`not an origin key: ${JSON.stringify(key)}`);
  return key;
}

export class DirectoryOriginStore implements OriginStore {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  private pathOf(key: string): string {
    const path = join(this.root, requireOriginKey(key));
    if (!path.startsWith(this.root + sep)) throw new Error(`not an origin key: ${JSON.stringify(key)}`);
    return path;
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    if (!isOriginKey(key)) return undefined;
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw error;
    }
  }

  /** Written aside then renamed: the edge never serves half a manifest. */
  async write(key: string, bytes: Uint8Array | string): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    const partial = `${path}.${randomUUID()}.partial`;
    await writeFile(partial, bytes);
    await rename(partial, path);
  }
}

/** For tests and single-process setups: objects in memory. */
export class MemoryOriginStore implements OriginStore {
  private readonly objects = new Map<string, Uint8Array>();

  async read(key: string): Promise<Uint8Array | undefined> {
    return this.objects.get(key);
  }

  async write(key: string, bytes: Uint8Array | string): Promise<void> {
    this.objects.set(requireOriginKey(key), typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
  }
}
