import { createLogger, Metrics, openDatabase, type Database } from '@nexusflow/kit';
import { createTempDirectory } from '@nexusflow/kit/testing';
import { migrations } from '../migrations/index.ts';
import { entities } from '../subgraph.ts';

/** The embedded workflows database in `directory`, migrated, its statements counted by `metrics`; for tests. */
export function openWorkflowsDatabase(directory: string, name: string, metrics = new Metrics(name)): Promise<Database> {
  return openDatabase({
    serviceName: 'workflows',
    url: undefined,
    embeddedDirectory: directory,
    entities,
    migrations,
    metrics,
    logger: createLogger({ name, level: 'silent' }),
  });
}

/**
 * A migrated embedded workflows database of a test file's own, whose statements `metrics` counts (nothing else uses
 * it), and what closes it and removes its files.
 */
export async function openCountedDatabase(name: string, metrics: Metrics): Promise<{ database: Database; close: () => Promise<void> }> {
  const dataDir = await createTempDirectory(name);
  const database = await openWorkflowsDatabase(dataDir.path, name, metrics);
  return {
    database,
    close: async () => {
      await database.close();
      await dataDir.remove();
    },
  };
}

/** The statements `metrics` has counted so far. */
export async function countedStatements(metrics: Metrics): Promise<number> {
  return (await metrics.databaseQueries.get()).values[0]?.value ?? 0;
}
