import type { RouteHandler, SubgraphContext } from '@nexusflow/kit';
import type { AuditLog } from './domain/audit-log.ts';
import type { ExportLinks } from './domain/exports.ts';
import type { AuditIngestion } from './domain/ingestion.ts';
import type { PruneResult } from './domain/retention.ts';
import type { AuditTrail } from './domain/trail.ts';
import type { AuditLoaders } from './loaders.ts';

export interface AuditServices {
  trail: AuditTrail;
  log: AuditLog;
  /** Appends events from the bus and the gateway's records delivered over HTTP, each once by its id. */
  ingestion: AuditIngestion;
  exportLinks: ExportLinks;
  /** GET /exports/audit: streams a compliance report's entries from a signed link. */
  exportRoute: RouteHandler;
  /** Deletes what retention allows now; the background work calls it every AUDIT_PRUNE_INTERVAL_MS. */
  pruneExpired(): Promise<PruneResult[]>;
}

export type AuditContext = SubgraphContext<AuditLoaders, AuditServices>;
