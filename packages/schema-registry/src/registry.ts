import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SubgraphSource } from './composition.ts';
import type { SchemaChange } from './changes.ts';

/** One published version of the supergraph: what every subgraph looked like and what changed. */
export interface PublishedVersion {
  version: number;
  publishedAt: string;
  message?: string;
  subgraphs: SubgraphSource[];
  supergraphSdl: string;
  /** Changes to the API schema since the previous version (empty for the first). */
  changes: SchemaChange[];
}

const VERSION_FILE = /^(\d{6})\.json$/;

/** Written to a temporary name and renamed, so that a reader (the gateway's poll) never sees half a file. */
async function writeAtomically(path: string, contents: string): Promise<void> {
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temporary, contents);
  await rename(temporary, path);
}

/**
 * A schema registry kept as files in the repository, so that publishing is a reviewed commit and the
 * history is `git log`-able as well as queryable. `published/supergraph.graphql` is what production serves.
 */
export class SchemaRegistry {
  constructor(readonly directory: string) {}

  get publishedSupergraphPath(): string {
    return join(this.directory, 'published', 'supergraph.graphql');
  }

  private versionPath(version: number): string {
    return join(this.directory, 'versions', `${String(version).padStart(6, '0')}.json`);
  }

  async versions(): Promise<number[]> {
    const files = await readdir(join(this.directory, 'versions')).catch(() => [] as string[]);
    return files
      .flatMap((file) => {
        const match = VERSION_FILE.exec(file);
        return match ? [Number(match[1])] : [];
      })
      .sort((a, b) => a - b);
  }

  async get(version: number): Promise<PublishedVersion> {
    const raw = await readFile(this.versionPath(version), 'utf8').catch(() => {
      throw new Error(`No published version ${version} in ${this.directory}`);
    });
    return JSON.parse(raw) as PublishedVersion;
  }

  async latest(): Promise<PublishedVersion | undefined> {
    const versions = await this.versions();
    const last = versions.at(-1);
    return last === undefined ? undefined : this.get(last);
  }

  async publish(entry: Omit<PublishedVersion, 'version' | 'publishedAt'>, now = new Date()): Promise<PublishedVersion> {
    const version = ((await this.versions()).at(-1) ?? 0) + 1;
    const record: PublishedVersion = { version, publishedAt: now.toISOString(), ...entry };
    await mkdir(join(this.directory, 'versions'), { recursive: true });
    await mkdir(join(this.directory, 'published'), { recursive: true });
    await writeFile(this.versionPath(version), `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
    await writeAtomically(this.publishedSupergraphPath, entry.supergraphSdl);
    return record;
  }
}
