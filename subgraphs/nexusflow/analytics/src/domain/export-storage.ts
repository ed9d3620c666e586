import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { once } from 'node:events';

/**
 * Where background exports keep their files, by key. A local directory is the default; an object store (S3, GCS) is
 * another implementation of the same four operations.
 */
export interface ExportStorage {
  /** Writes the chunks under `key`, waiting while the storage is slower than the source; the file appears whole or not at all. */
  write(key: string, chunks: AsyncIterable<string>): Promise<{ bytes: number }>;
  /** The file's bytes, or undefined when there is no file under `key`. */
  read(key: string): Promise<Readable | undefined>;
  remove(key: string): Promise<void>;
}

const SAFE_KEY = /^[\w.-]+$/;

function checkedKey(key: string): string {
  if (!SAFE_KEY.test(key)) throw new Error(`export storage keys are plain file names, got ${JSON.stringify(key)}`);
  return key;
}

/** Files in one directory, written to a temporary name and renamed when complete. */
export class LocalDirectoryStorage implements ExportStorage {
  constructor(private readonly directory: string) {}

  async write(key: string, chunks: AsyncIterable<string>): Promise<{ bytes: number }> {
    await mkdir(this.directory, { recursive: true });
    const path = join(this.directory, checkedKey(key));
    const partial = `${path}.partial`;
    const file = createWriteStream(partial);
    let bytes = 0;
    try {
      for await (const chunk of chunks) {
        bytes += Buffer.byteLength(chunk);
        if (!file.write(chunk)) await once(file, 'drain');
      }
      file.end();
      await once(file, 'close');
      await rename(partial, path);
      return { bytes };
    } catch (error) {
      file.destroy();
      await rm(partial, { force: true });
      throw error;
    }
  }

  async read(key: string): Promise<Readable | undefined> {
    const path = join(this.directory, checkedKey(key));
    const found = await stat(path).catch(() => undefined);
    return found?.isFile() ? createReadStream(path) : undefined;
  }

  async remove(key: string): Promise<void> {
    await rm(join(this.directory, checkedKey(key)), { force: true });
  }
}
