import { loaderById, type EntityManager } from '@nexusflow/kit';
import { AuditEntry } from './entities/audit-entry.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { auditEntryById: loaderById(em, AuditEntry) };
}

export type AuditLoaders = ReturnType<typeof createLoaders>;
