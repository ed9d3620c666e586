import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import type { RunningSubgraph } from '@nexusflow/kit';
import { storageModes, testEnvironment } from '@nexusflow/kit/testing';
import { startServices, TestServices } from '../../../../../test/support/services.ts';
import { ClickHouseEventStore } from '../../src/domain/clickhouse-event-store.ts';
import type { EventStore } from '../../src/domain/event-store.ts';
import type { AnalyticsServices } from '../../src/context.ts';

/**
 * A ClickHouse server (23.x or later, its HTTP interface) for the ClickHouse store's tests, which skip without one:
 * TEST_CLICKHOUSE_URL is the one `TEST_*` server CI does not require, as it runs none.
 */
export const clickHouseTestUrl = testEnvironment.clickhouseUrl;

export interface StoreUnderTest {
  store: EventStore;
  /** The SQL statements the store's service has run so far; a store outside PostgreSQL has none. */
  statements?: () => Promise<number>;
  close(): Promise<void>;
}

export interface StoreCase {
  name: string;
  open: (label: string) => Promise<StoreUnderTest>;
}

/** The service's own store, on the file's storage mode: started as the service starts it, migrations and all. */
async function serviceStore(mode: 'embedded' | 'postgres', label: string): Promise<StoreUnderTest> {
  const services = await TestServices.create(mode, label);
  try {
    const running: Record<string, RunningSubgraph<unknown>> = {};
    await startServices(services, 'nexusflow', ['analytics'], running, { analytics: { ANALYTICS_PARTITION_INTERVAL_MS: '0' } });
    const analytics = running.analytics as RunningSubgraph<AnalyticsServices>;
    return {
      store: analytics.services.store,
      statements: async () => (await analytics.metrics.databaseQueries.get()).values[0]?.value ?? 0,
      close: () => services.close(),
    };
  } catch (error) {
    await services.close();
    throw error;
  }
}

/** A ClickHouse database of the test file's own, made by the store's migrations and dropped at close. */
export async function clickHouseStore(url: string, label: string): Promise<StoreUnderTest & { database: string }> {
  const database = `${label}_${randomBytes(4).toString('hex')}`;
  const store = new ClickHouseEventStore({ url, database, batchSize: 1000, flushIntervalMs: 5 });
  await store.migrate();
  return {
    store,
    database,
    async close() {
      await store.close();
      const server = createClient({ url });
      try {
        await server.command({ query: `DROP DATABASE IF EXISTS \`${database}\`` });
      } finally {
        await server.close();
      }
    },
  };
}

/** Every store this machine can run: embedded always, PostgreSQL with TEST_POSTGRES_URL, ClickHouse with TEST_CLICKHOUSE_URL. */
export function availableStores(): StoreCase[] {
  const cases: StoreCase[] = storageModes(['postgres', 'redis', 'amqp']).map(({ mode, storage }) => ({
    name: mode === 'embedded' ? 'PGlite (embedded)' : `PostgreSQL (${storage})`,
    open: (label) => serviceStore(mode, `${label}_${mode}`),
  }));
  const url = clickHouseTestUrl;
  if (url) cases.push({ name: 'ClickHouse', open: (label) => clickHouseStore(url, label) });
  return cases;
}
