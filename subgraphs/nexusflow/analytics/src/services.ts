import { systemFork, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { AnalyticsConfig } from './config.ts';
import type { AnalyticsServices } from './context.ts';
import { CohortQueries } from './domain/cohorts.ts';
import { EventLog } from './domain/event-log.ts';
import { EventExports } from './domain/exports.ts';
import { EventIngestion } from './domain/ingestion.ts';
import { UsageQueries } from './domain/metrics.ts';
import { MonthlyPartitions } from './domain/partitions.ts';

export function createAnalyticsServices(runtime: SubgraphRuntime, config: AnalyticsConfig): AnalyticsServices {
  const partitions = new MonthlyPartitions();
  const exports = new EventExports(config.exportBaseUrl, config.subgraph.internalSecret, runtime.clock);
  return {
    ingestion: new EventIngestion(runtime.database, partitions, runtime.clock),
    partitions,
    events: new EventLog(),
    usage: new UsageQueries(),
    cohorts: new CohortQueries(),
    exports,
    exportRoute: exports.route(runtime.database, runtime.logger),
  };
}

/** The queue every event on the bus reaches; durable, so that events published while analytics is down wait for it. */
export const analyticsQueueName = (namespace: string) => `${namespace}.analytics.events`;

/** The durable consumer of every event on the bus (deduplicated by event id), and the pass making partitions ahead. */
export async function startAnalyticsWork(
  runtime: SubgraphRuntime,
  services: AnalyticsServices,
  config: AnalyticsConfig,
): Promise<Stoppable> {
  let partitioning: Promise<unknown> = Promise.resolve();
  const makePartitions = () => {
    partitioning = services.partitions
      .ensureAhead(systemFork(runtime.database), new Date(runtime.clock()), config.partitionsAhead)
      .catch((error: unknown) =>
        runtime.logger.error({ err: error }, 'making the coming months’ partitions failed; trying again next time'),
      );
  };
  makePartitions();
  const timer = config.partitionIntervalMs > 0 ? setInterval(makePartitions, config.partitionIntervalMs) : undefined;
  timer?.unref();
  const events = await runtime.eventBus.subscribe(
    { queue: analyticsQueueName(runtime.config.amqpNamespace), bindings: ['#'], concurrency: config.eventConcurrency },
    async (event) => {
      try {
        await services.ingestion.ingest(event);
      } catch (error) {
        runtime.logger.error({ err: error, eventId: event.id, type: event.type }, 'could not store an event; it will be redelivered');
        throw error;
      }
    },
  );
  return {
    async close() {
      clearInterval(timer);
      await events.stop();
      await partitioning;
    },
  };
}
