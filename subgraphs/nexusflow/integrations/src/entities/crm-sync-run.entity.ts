import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export type SyncRunStatus = 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'FAILED';
export type SyncPhase = 'PULL' | 'PUSH';

/**
 * One sync of an integration, and where it is: the job on the work queue carries only its id, and every page stores
 * its cursor here in the same transaction as the records it applied, so a sync that stops anywhere resumes at the page
 * it had not finished.
 */
export const CrmSyncRunSchema = defineEntity({
  name: 'CrmSyncRun',
  tableName: 'crm_sync_runs',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    integrationId: p.uuid().index(),
    objectType: p.string(),
    status: p.string().$type<SyncRunStatus>(),
    phase: p.string().$type<SyncPhase>(),
    /** The CRM changes pulled are those modified at or after this; null the first time: all of them. */
    pullSince: p.datetime().nullable(),
    /** The CRM's paging cursor of the next page to pull; null: the first page. */
    pullCursor: p.string().nullable(),
    /** The latest CRM modification time pulled: the next run's `pullSince`. */
    pullHighWater: p.datetime().nullable(),
    /** The id after which the next page of NexusFlow's changes to push starts. */
    pushCursor: p.uuid().nullable(),
    pulled: p.integer(),
    pushed: p.integer(),
    conflicts: p.integer(),
    /** Attempts that failed and were retried. */
    attempts: p.integer(),
    error: p.text().nullable(),
    startedAt: p.datetime(),
    finishedAt: p.datetime().nullable(),
  },
});

export class CrmSyncRun extends CrmSyncRunSchema.class {}
CrmSyncRunSchema.setClass(CrmSyncRun);
