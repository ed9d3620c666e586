import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { CrmObjectType } from '../domain/sync/mappings.ts';

export type SyncRunStatus = 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'FAILED';
export type SyncPhase = 'PULL' | 'PUSH';

/** A run's part for one kind of record: its counts, and the latest CRM change it pulled (ISO), the next run's start. */
export interface SyncRunObject {
  objectType: CrmObjectType;
  pulled: number;
  pushed: number;
  conflicts: number;
  pullHighWater: string | null;
}

/**
 * One sync of an integration, and where it is: the job on the work queue carries only its id, and every page stores
 * its cursor here in the same transaction as the records it applied, so a sync that stops anywhere resumes at the page
 * it had not finished. A run syncs each kind of record in turn (`objects`, in order); `objectType`, `phase` and the
 * cursors are those of the kind it is at.
 *
 * An integration has at most one active (queued or running) run, which the database enforces; a worker runs it only
 * while it holds the run's lease (`leaseHolder` until `leasedUntil`, renewed with each page), so a job delivered twice
 * is not run twice at once, and a run whose worker died is taken over once its lease has lapsed.
 */
export const CrmSyncRunSchema = defineEntity({
  name: 'CrmSyncRun',
  tableName: 'crm_sync_runs',
  filters: tenantFilter(),
  uniques: [
    {
      name: 'crm_sync_runs_one_active_per_integration',
      expression: `create unique index "crm_sync_runs_one_active_per_integration" on "crm_sync_runs" ("integration_id") where "status" in ('QUEUED', 'RUNNING')`,
    },
  ],
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    integrationId: p.uuid().index(),
    /** The kind of record the run is at. */
    objectType: p.string().$type<CrmObjectType>(),
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
    /** The kinds of record the run syncs, in order, with each one's counts; `pulled`, `pushed`, `conflicts` sum them. */
    objects: p.json<SyncRunObject[]>(),
    /** The worker (an engine instance's id) running it; null before one took it. */
    leaseHolder: p.uuid().nullable(),
    /** Until when `leaseHolder` may run it without renewing; after that, another worker may take it over. */
    leasedUntil: p.datetime().nullable(),
  },
});

export class CrmSyncRun extends CrmSyncRunSchema.class {}
CrmSyncRunSchema.setClass(CrmSyncRun);
