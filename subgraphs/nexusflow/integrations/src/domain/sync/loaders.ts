import DataLoader from 'dataloader';
import { groupByKeys, loaderById, type EntityManager } from '@nexusflow/kit';
import { CrmCompany } from '../../entities/crm-company.entity.ts';
import { CrmExternalLink } from '../../entities/crm-external-link.entity.ts';

export interface SyncCounts {
  syncedRecords: number;
  heldConflicts: number;
}

/** The sync's cross-entity fields, batched per request in the caller's tenant's unit of work. */
export function createSyncLoaders(em: EntityManager) {
  return {
    /** A deal's company, of the caller's tenant. */
    companyById: loaderById(em, CrmCompany),
    linksByRecordId: new DataLoader<string, CrmExternalLink[]>(async (ids) =>
      groupByKeys(
        ids,
        await em.find(CrmExternalLink, { recordId: { $in: [...ids] } }, { orderBy: { createdAt: 'asc' } }),
        (link) => link.recordId,
      ),
    ),
    syncCountsByIntegrationId: new DataLoader<string, SyncCounts>(async (ids) => {
      const [links, conflicts] = await Promise.all([
        em
          .getConnection()
          .execute<{ integration_id: string; count: string }[]>(
            `select integration_id, count(*) as count from crm_external_links where integration_id = any(:ids::uuid[]) group by integration_id`,
            { ids: `{${ids.join(',')}}` },
          ),
        em
          .getConnection()
          .execute<{ integration_id: string; count: string }[]>(
            `select integration_id, count(*) as count from crm_sync_conflicts where integration_id = any(:ids::uuid[]) and resolved_at is null group by integration_id`,
            { ids: `{${ids.join(',')}}` },
          ),
      ]);
      const countOf = (rows: { integration_id: string; count: string }[], id: string) =>
        Number(rows.find((row) => row.integration_id === id)?.count ?? 0);
      return ids.map((id) => ({ syncedRecords: countOf(links, id), heldConflicts: countOf(conflicts, id) }));
    }),
  };
}
