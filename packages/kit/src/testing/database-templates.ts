import { createHash, randomBytes } from 'node:crypto';
import { access, copyFile, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { openDatabase, type EmbeddedStorage } from '../storage/database.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';

export type { EmbeddedStorage } from '../storage/database.ts';

export interface TemplateOptions {
  /**
   * Where migrated templates are kept between runs: on disk, not in memory, as a changed migration leaves its old
   * templates behind (about 40 MB each) for the OS to clean with its other temporary files.
   * @default `<os tmpdir>/nexusflow-database-templates`
   */
  cacheDirectory?: string;
}

/** PGlite's package does not export its package.json; its entry point is `dist/index.js` beside it. */
const pgliteVersion = async (): Promise<string> => {
  const manifest = await readFile(new URL('../package.json', import.meta.resolve('@electric-sql/pglite')), 'utf8');
  return (JSON.parse(manifest) as { version: string }).version;
};

/**
 * What a template's files depend on: the engine's version and every migration's name and code. A changed migration is
 * a new key, so a stale template is never used; old ones are left for the OS to clean from its temporary folder.
 */
async function templateKey(serviceName: string, storage: EmbeddedStorage): Promise<string> {
  const hash = createHash('sha256').update(`pglite ${await pgliteVersion()}\n`);
  // A migration may create an extension only where it is loaded, so the loaded extensions shape the template too.
  const extensions = storage.embeddedExtensions ?? [];
  if (extensions.length > 0) hash.update(`extensions ${extensions.join(',')}\n`);
  const { migrations } = storage;
  for (const migration of migrations) hash.update(`${migration.name}\n${String(migration.class)}\n`);
  return `${serviceName}-${hash.digest('hex').slice(0, 16)}`;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Files copied at once: a database is about a thousand small files, which one at a time are slow to copy. */
const COPY_CONCURRENCY = 16;

async function copyDirectory(from: string, to: string): Promise<void> {
  const entries = await readdir(from, { recursive: true, withFileTypes: true });
  await mkdir(to, { recursive: true });
  for (const entry of entries) {
    if (entry.isDirectory()) await mkdir(join(to, relative(from, entry.parentPath), entry.name), { recursive: true });
  }
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(relative(from, entry.parentPath), entry.name));
  let next = 0;
  const copier = async () => {
    while (next < files.length) {
      const file = files[next++]!;
      await copyFile(join(from, file), join(to, file));
    }
  };
  await Promise.all(Array.from({ length: COPY_CONCURRENCY }, copier));
}

/**
 * Builds a template in a folder of this process's own, then moves it into place in one rename: several test processes
 * may build the same template at once, and the first rename wins while the others find it there. `build` makes the
 * template's files in a folder under the one it is given, and says which.
 */
async function buildTemplate(template: string, build: (scratch: string) => Promise<string>): Promise<void> {
  const scratch = join(dirname(template), `building-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(scratch, { recursive: true });
  try {
    const built = await build(scratch);
    await rename(built, template).catch(async (error: unknown) => {
      if (!(await exists(template))) throw error;
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A copy of `template` at `destination`, the template built first when this machine has none yet. */
async function copyOfTemplate(destination: string, template: string, build: (scratch: string) => Promise<string>): Promise<void> {
  if (!(await exists(template))) await buildTemplate(template, build);
  await copyDirectory(template, destination);
}

const cacheDirectoryOf = (options: TemplateOptions) => options.cacheDirectory ?? join(tmpdir(), 'nexusflow-database-templates');

/** Where the cache keeps its empty cluster, every service's template's starting point. */
export const emptyClusterTemplate = async (options: TemplateOptions = {}): Promise<string> =>
  join(cacheDirectoryOf(options), `cluster-pglite-${await pgliteVersion()}`);

/**
 * Puts a new, empty PostgreSQL cluster at `destination`, as PGlite creates on first opening an empty folder, but as a
 * copy: creating the cluster takes seconds of CPU, copying it a fraction of one. Keyed by PGlite's version only, since
 * extensions are loaded when a database opens and change the cluster only once a migration creates them.
 */
export async function seedEmptyCluster(destination: string, options: TemplateOptions = {}): Promise<void> {
  await copyOfTemplate(destination, await emptyClusterTemplate(options), async (scratch) => {
    const cluster = join(scratch, 'cluster');
    const db = await PGlite.create({ dataDir: cluster });
    await db.close();
    return cluster;
  });
}

/** Creates and migrates a service's database under `scratch`, from a copy of the empty cluster; says where it is. */
async function migratedDatabase(scratch: string, serviceName: string, storage: EmbeddedStorage, options: TemplateOptions): Promise<string> {
  const folder = join(scratch, serviceName);
  await seedEmptyCluster(folder, options);
  const database = await openDatabase({
    serviceName,
    url: undefined,
    embeddedDirectory: scratch,
    entities: storage.entities,
    migrations: storage.migrations,
    embeddedExtensions: storage.embeddedExtensions,
    // Several test files build templates at once, each PGlite in one busy thread: a connection may wait long for its turn.
    connectTimeoutMs: 60_000,
    metrics: new Metrics(serviceName),
    logger: createLogger({ name: serviceName, level: 'silent' }),
  });
  await database.close();
  return folder;
}

/**
 * Puts an already migrated embedded database for `serviceName` under `dataDir`, where the subgraph will open it, so
 * that a test's fresh database costs a folder copy instead of creating PGlite's cluster and running every migration.
 * The template is built once per set of migrations and kept on disk, shared by test processes and runs. Does nothing
 * when `dataDir` already holds the service's database.
 */
export async function seedEmbeddedDatabase(
  dataDir: string,
  serviceName: string,
  storage: EmbeddedStorage,
  options: TemplateOptions = {},
): Promise<void> {
  const destination = join(dataDir, serviceName);
  if (await exists(destination)) return;
  const template = join(cacheDirectoryOf(options), await templateKey(serviceName, storage));
  await copyOfTemplate(destination, template, (scratch) => migratedDatabase(scratch, serviceName, storage, options));
}
