import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
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
    const path = this.versionPath(version);
    const raw = await readFile(path, 'utf8').catch(() => {
      throw new Error(`No published version ${version} in ${this.directory}`);
    });
    let record: Partial<PublishedVersion>;
    try {
      record = JSON.parse(raw) as Partial<PublishedVersion>;
    } catch (error) {
      throw new Error(`${path} is not a published version: ${(error as Error).message}`);
    }
    if (typeof record !== 'object' || record === null || typeof record.supergraphSdl !== 'string' || !Array.isArray(record.subgraphs))
      throw new Error(`${path} is not a published version: it needs a supergraphSdl and its subgraphs`);
    return { ...record, changes: Array.isArray(record.changes) ? record.changes : [] } as PublishedVersion;
  }

  /**
   * What is wrong with the registry as files, which production and the check both trust: a gap in the history, a
   * version that does not read, or a published supergraph that is not the latest version's (edited by hand, or left
   * behind by a publication that did not finish). Empty when it is sound.
   */
  async problems(): Promise<string[]> {
    const versions = await this.versions();
    const problems: string[] = [];
    const last = versions.at(-1);
    if (last === undefined) return problems;
    const present = new Set(versions);
    const missing = Array.from({ length: last }, (_, index) => index + 1).filter((version) => !present.has(version));
    if (missing.length > 0)
      problems.push(
        `the history has a gap: ${missing.map((version) => relative(this.directory, this.versionPath(version))).join(', ')} missing`,
      );
    let latest: PublishedVersion | undefined;
    for (const version of versions) {
      try {
        const read = await this.get(version);
        if (version === last) latest = read;
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    if (!latest) return problems;
    const served = await readFile(this.publishedSupergraphPath, 'utf8').catch(() => undefined);
    const file = relative(this.directory, this.publishedSupergraphPath);
    const repair = `write version ${last}'s supergraphSdl to it, or remove ${relative(this.directory, this.versionPath(last))} if that publication did not finish`;
    if (served === undefined) problems.push(`${file}, which production serves, is missing: ${repair}`);
    else if (served !== latest.supergraphSdl)
      problems.push(`${file}, which production serves, is not version ${last}'s supergraph: ${repair}`);
    return problems;
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
