import { PeriodicTask, systemFork, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { AuditConfig } from './config.ts';
import type { AuditServices } from './context.ts';
import { AuditLog } from './domain/audit-log.ts';
import { exportRoute, ExportLinks } from './domain/exports.ts';
import { AuditIngestion } from './domain/ingestion.ts';
import { pruneExpiredEntries } from './domain/retention.ts';
import { AuditTrail } from './domain/trail.ts';

export function createAuditServices(runtime: SubgraphRuntime, config: AuditConfig): AuditServices {
  const trail = new AuditTrail(config.chainKey);
  const log = new AuditLog(trail);
  const exportLinks = new ExportLinks(config.exportBaseUrl, config.subgraph.internalSecret, runtime.clock);
  return {
    trail,
    log,
    ingestion: new AuditIngestion(trail, runtime.database),
    exportLinks,
    exportRoute: exportRoute(exportLinks, log, runtime.database, runtime.logger),
    pruneExpired: () => pruneExpiredEntries(systemFork(runtime.database)),
  };
}

/** The queue every event on the bus reaches; durable, so that events published while audit is down wait for it. */
export const auditQueueName = (namespace: string) => `${namespace}.audit.trail`;

/** The durable consumer of every event on the bus (deduplicated by event id), and the periodic pruning. */
export async function startAuditWork(runtime: SubgraphRuntime, services: AuditServices, config: AuditConfig): Promise<Stoppable> {
  const events = await runtime.eventBus.subscribe(
    { queue: auditQueueName(runtime.config.amqpNamespace), bindings: ['#'], concurrency: config.eventConcurrency },
    async (event) => {
      try {
        await services.ingestion.ingest(event);
      } catch (error) {
        runtime.logger.error(
          { err: error, eventId: event.id, type: event.type },
          'could not append an event to the trail; it will be redelivered',
        );
        throw error;
      }
    },
  );
  const pruning = new PeriodicTask(
    async () => {
      for (const { tenantId, deleted } of await services.pruneExpired())
        runtime.logger.info({ tenantId, deleted }, 'pruned audit entries past retention');
    },
    { logger: runtime.logger, failureMessage: 'pruning audit entries failed; trying again next time' },
  ).start(config.pruneIntervalMs);
  return {
    async close() {
      await events.stop();
      await pruning.stop();
    },
  };
}
