import { createHash, randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import {
  ADMIN_ROLES,
  recordEvent,
  requireRole,
  requireUser,
  requireUuid,
  systemFork,
  type Database,
  type EntityManager,
  type Identity,
  type Logger,
  type PubSub,
  type WorkQueue,
} from '@nexusflow/kit';
import type { CrmCompany } from '../../entities/crm-company.entity.ts';
import type { CrmContact } from '../../entities/crm-contact.entity.ts';
import type { CrmDeal } from '../../entities/crm-deal.entity.ts';
import { CrmExternalLink } from '../../entities/crm-external-link.entity.ts';
import { CrmSyncConflict } from '../../entities/crm-sync-conflict.entity.ts';
import { CrmSyncRun, type SyncRunObject } from '../../entities/crm-sync-run.entity.ts';
import { Integration } from '../../entities/integration.entity.ts';
import { IntegrationTokenError } from '../connections.ts';
import { PROVIDERS, type ProviderName } from '../providers.ts';
import { providerFailure, ProviderRequestError, type CrmAdapter, type ProviderRecord } from './adapter.ts';
import { mappingSetOf } from './crm-store.ts';
import { findRecords, newRecord, RECORD_TABLES, syncedValues, type CrmRecord } from './crm-records.ts';
import { CRM_OBJECT_TYPES, MappingError, MappingPlan, writeFields, type ConflictPolicy, type CrmObjectType } from './mappings.ts';

const MAX_CONFLICTS_PAGE = 100;

/** The job on the work queue: everything else is in the run's row. */
export interface SyncJob {
  runId: string;
}

/** What `syncProgress` subscribers receive. */
export interface SyncProgressUpdate {
  tenantId: string;
  run: RunSnapshot;
}

export type RunSnapshot = Pick<
  CrmSyncRun,
  'id' | 'integrationId' | 'status' | 'pulled' | 'pushed' | 'conflicts' | 'error' | 'startedAt' | 'finishedAt' | 'objects'
>;

export type SyncIntegrationResult =
  | CrmSyncRun
  | { __typename: 'IntegrationNotFound'; message: string; id: string }
  | { __typename: 'IntegrationNotSyncable'; message: string; id: string };

export type ResolveConflictResult =
  | { __typename: 'SyncConflictResolved'; id: string; choice: 'PROVIDER' | 'NEXUSFLOW'; contact: CrmContact }
  | { __typename: 'SyncRecordConflictResolved'; id: string; choice: 'PROVIDER' | 'NEXUSFLOW'; record: CrmCompany | CrmDeal }
  | { __typename: 'SyncConflictNotFound'; message: string; id: string };

export const syncProgressTopic = (integrationId: string) => `integrations.sync-progress.${integrationId}`;

const hashOf = (values: Record<string, unknown>) =>
  createHash('sha256')
    .update(JSON.stringify(Object.entries(values).sort(([a], [b]) => a.localeCompare(b))))
    .digest('base64url');

/** How far a run has got, to drop updates older than one a subscriber has: by status, then by records done. */
export const progressOrder = (run: RunSnapshot): number =>
  ({ QUEUED: 0, RUNNING: 1, COMPLETED: 2, FAILED: 2 })[run.status] * 1e12 + run.pulled + run.pushed + run.conflicts;

export const snapshotOf = (run: CrmSyncRun): RunSnapshot => ({
  id: run.id,
  integrationId: run.integrationId,
  status: run.status,
  pulled: run.pulled,
  pushed: run.pushed,
  conflicts: run.conflicts,
  error: run.error,
  startedAt: run.startedAt,
  finishedAt: run.finishedAt,
  objects: run.objects,
});

const ACTIVE = ['QUEUED', 'RUNNING'] as const;

/** Another worker took the run over (this one's lease lapsed): this one stops without touching it. */
class LeaseLost extends Error {
  constructor(runId: string) {
    super(`the lease on sync run ${runId} passed to another worker`);
    this.name = 'LeaseLost';
  }
}

/** A run's part for its current kind of record. */
const partOf = (run: CrmSyncRun): SyncRunObject | undefined => run.objects.find((part) => part.objectType === run.objectType);

/** Adds to a run's count and to its current kind's. */
function tally(run: CrmSyncRun, count: 'pulled' | 'pushed' | 'conflicts'): void {
  run[count] += 1;
  run.objects = run.objects.map((part) => (part.objectType === run.objectType ? { ...part, [count]: part[count] + 1 } : part));
}

export interface SyncEngineSettings {
  database: Database;
  queue: WorkQueue<SyncJob>;
  pubsub: PubSub;
  logger: Logger;
  now: () => number;
  /** The adapter of an integration whose CRM syncs, reaching it with a token from `em`; null otherwise. */
  adapterFor: (em: EntityManager, integration: Integration) => CrmAdapter | null;
  /** Called after a flush that recorded events, so the outbox relay publishes them now. */
  eventsRecorded: () => void;
  pageSize: number;
  /** Failed attempts of a run (a CRM unreachable, answering 5xx, or rate-limiting for too long) before it fails. */
  maxAttempts: number;
  retryDelayMs: number;
  /** How long a worker's lease on a running run lasts unless renewed (with each page). */
  leaseMs: number;
}

/**
 * Two-way sync of a tenant's contacts, companies and deals with a CRM, as durable jobs: a run goes through each kind
 * of record that has mappings (companies before deals, so that a deal's company is linked by the time the deal is),
 * pulling the CRM's changes since the last run page by page, then pushing NexusFlow's changes since each record last
 * agreed with the CRM, storing its cursor with each page's records in one transaction. Every write lands on a record's
 * external link (unique per integration, kind and id), and creation at the CRM goes by its creation key, so a run
 * interrupted anywhere and run again makes nothing twice.
 *
 * One run per integration is active at a time (a unique partial index), and a worker works on it only under its
 * lease, renewed with each page in the page's transaction: a job delivered twice waits for the lease to lapse rather
 * than run alongside, and a worker that lost its lease (it stalled past it, another took over) commits nothing more.
 */
export class SyncEngine {
  constructor(readonly settings: SyncEngineSettings) {}

  /** Queues a run of a CRM integration; one already queued or running is returned instead. OWNER or ADMIN only. */
  async start(em: EntityManager, identity: Identity, integrationId: string): Promise<SyncIntegrationResult> {
    const caller = requireRole(identity, ADMIN_ROLES);
    const integration = await em.findOne(Integration, { id: requireUuid(integrationId, 'id'), disconnectedAt: null });
    if (!integration) return { __typename: 'IntegrationNotFound', message: `No integration ${integrationId}`, id: integrationId };
    const definition = PROVIDERS[integration.provider as ProviderName];
    const adapter = definition.kind === 'CRM' ? this.settings.adapterFor(em, integration) : null;
    if (adapter === null) {
      return {
        __typename: 'IntegrationNotSyncable',
        message:
          definition.kind === 'CRM' ? `Sync with ${definition.displayName} is not available yet` : `${definition.displayName} is not a CRM`,
        id: integrationId,
      };
    }
    const active = await em.findOne(CrmSyncRun, { integrationId: integration.id, status: { $in: [...ACTIVE] } });
    if (active) {
      // Nobody holds it: its worker died, or its job never reached the queue (the process stopped between recording
      // the run and queueing it, or the broker was away), or died with an in-process queue. One more job is harmless,
      // since the lease decides who works on the run.
      if (!active.leasedUntil || active.leasedUntil.getTime() < this.settings.now()) await this.enqueue(active.id);
      return active;
    }
    const previous = await em.findOne(
      CrmSyncRun,
      { integrationId: integration.id, status: 'COMPLETED' },
      { orderBy: { startedAt: 'desc' } },
    );
    const objects: SyncRunObject[] = [];
    for (const objectType of CRM_OBJECT_TYPES) {
      if ((await mappingSetOf(em, integration.id, objectType, adapter)).mappings.length === 0) continue;
      const before = previous?.objects.find((part) => part.objectType === objectType);
      objects.push({ objectType, pulled: 0, pushed: 0, conflicts: 0, pullHighWater: before?.pullHighWater ?? null });
    }
    const first = objects[0];
    const since = first?.pullHighWater ? new Date(first.pullHighWater) : null;
    const run = em.create(CrmSyncRun, {
      tenantId: caller.tenantId,
      integrationId: integration.id,
      objectType: first?.objectType ?? 'CONTACT',
      status: 'QUEUED',
      phase: 'PULL',
      pullSince: since,
      pullCursor: null,
      pullHighWater: since,
      pushCursor: null,
      pulled: 0,
      pushed: 0,
      conflicts: 0,
      attempts: 0,
      error: null,
      startedAt: new Date(this.settings.now()),
      finishedAt: null,
      objects,
      leaseHolder: null,
      leasedUntil: null,
    });
    try {
      await em.flush();
    } catch (error) {
      // Another request started one between the look above and this insert: the index kept it to one, theirs.
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      const theirs = await em.fork().findOne(CrmSyncRun, { integrationId: integration.id, status: { $in: [...ACTIVE] } });
      if (!theirs) throw error;
      return theirs;
    }
    await this.enqueue(run.id);
    return run;
  }

  /**
   * Queued without waiting for a broker that is away: the run is recorded, and is queued again when the broker is back
   * ({@link requeueUnleased}) or when its sync is asked for again.
   */
  private async enqueue(runId: string): Promise<void> {
    try {
      await this.settings.queue.enqueue({ runId }, { waitForReconnection: false });
    } catch (error) {
      this.settings.logger.warn({ err: error, runId }, 'a sync run is recorded but not queued; it is queued when the broker is back');
    }
  }

  /** Queues again the unfinished runs nobody holds a live lease on: after the broker was away, their jobs may be lost. */
  async requeueUnleased(): Promise<number> {
    const runs = await systemFork(this.settings.database).find(CrmSyncRun, {
      status: { $in: [...ACTIVE] },
      $or: [{ leasedUntil: null }, { leasedUntil: { $lt: new Date(this.settings.now()) } }],
    });
    for (const run of runs) await this.enqueue(run.id);
    return runs.length;
  }

  /** Runs queued or running when this process last stopped: with an in-process queue, their jobs died with it. */
  async requeueUnfinished(): Promise<number> {
    const runs = await systemFork(this.settings.database).find(CrmSyncRun, { status: { $in: [...ACTIVE] } });
    for (const run of runs) await this.settings.queue.enqueue({ runId: run.id });
    return runs.length;
  }

  async conflicts(em: EntityManager, identity: Identity, integrationId: string, first: number): Promise<CrmSyncConflict[]> {
    requireUser(identity);
    const limit = Math.min(Math.max(first, 0), MAX_CONFLICTS_PAGE);
    if (limit === 0) return [];
    return em.find(
      CrmSyncConflict,
      { integrationId: requireUuid(integrationId, 'integrationId'), resolvedAt: null },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit },
    );
  }

  /**
   * Resolves a held conflict: the CRM's values are written into NexusFlow's record, or NexusFlow's are sent to the
   * CRM now. Either way both sides agree afterwards, and the record syncs again. OWNER or ADMIN only.
   */
  async resolve(em: EntityManager, identity: Identity, id: string, choice: 'PROVIDER' | 'NEXUSFLOW'): Promise<ResolveConflictResult> {
    const caller = requireRole(identity, ADMIN_ROLES);
    const conflict = await em.findOne(CrmSyncConflict, { id: requireUuid(id, 'id'), resolvedAt: null });
    const notFound = { __typename: 'SyncConflictNotFound', message: `No held conflict ${id}`, id } as const;
    if (!conflict) return notFound;
    const objectType = conflict.objectType as CrmObjectType;
    const [[record], link, integration] = await Promise.all([
      findRecords(em, objectType, [conflict.recordId]),
      em.findOne(CrmExternalLink, { integrationId: conflict.integrationId, objectType, recordId: conflict.recordId }),
      em.findOne(Integration, { id: conflict.integrationId, disconnectedAt: null }),
    ]);
    if (!record || !link || !integration) return notFound;
    const adapter = this.settings.adapterFor(em, integration);
    if (!adapter) return notFound;
    const now = new Date(this.settings.now());
    const plan = new MappingPlan(objectType, (await mappingSetOf(em, integration.id, objectType, adapter)).mappings);
    if (choice === 'PROVIDER') {
      writeFields(record, conflict.providerValues);
      record.updatedAt = now;
      Object.assign(link, { localUpdatedAt: now, contentHash: hashOf(conflict.providerValues), syncedAt: now });
    } else {
      let updated: ProviderRecord | undefined;
      try {
        const companyExternalId = await this.companyExternalIdOf(em, integration.id, objectType, record);
        updated = (
          await adapter.update(objectType, [{ externalId: link.externalId, properties: await plan.outbound(record), companyExternalId }])
        ).get(link.externalId);
      } catch (error) {
        throw providerFailure(error);
      }
      Object.assign(link, {
        providerUpdatedAt: updated?.updatedAt ?? link.providerUpdatedAt,
        localUpdatedAt: record.updatedAt,
        contentHash: hashOf(syncedValues(objectType, plan, record)),
        syncedAt: now,
      });
    }
    Object.assign(conflict, { resolvedAt: now, resolvedBy: caller.userId, choice });
    await em.flush();
    return objectType === 'CONTACT'
      ? { __typename: 'SyncConflictResolved', id: conflict.id, choice, contact: record as CrmContact }
      : { __typename: 'SyncRecordConflictResolved', id: conflict.id, choice, record: record as CrmCompany | CrmDeal };
  }

  /**
   * The worker's part: a run from where it stands to its end, under a lease on it; a failure worth retrying queues it
   * again, later. A run another worker holds a live lease on is left to it, its job coming back when the lease would
   * have lapsed (so that a run whose worker died is taken over then).
   */
  async handle(job: SyncJob): Promise<void> {
    const em = systemFork(this.settings.database);
    const lease = randomUUID();
    const now = new Date(this.settings.now());
    const taken = await em.nativeUpdate(
      CrmSyncRun,
      { id: job.runId, status: { $in: [...ACTIVE] }, $or: [{ leasedUntil: null }, { leasedUntil: { $lt: now } }] },
      { leaseHolder: lease, leasedUntil: new Date(now.getTime() + this.settings.leaseMs) },
    );
    if (taken === 0) {
      await this.leaveToHolder(em, job);
      return;
    }
    const run = await em.findOneOrFail(CrmSyncRun, { id: job.runId });
    try {
      const integration = await em.findOne(Integration, { id: run.integrationId, disconnectedAt: null });
      if (!integration) throw new IntegrationTokenError('NOT_CONNECTED', 'The integration was disconnected');
      const adapter = this.settings.adapterFor(em, integration);
      if (!adapter) throw new IntegrationTokenError('NOT_CONNECTED', `Sync with ${integration.provider} is not available`);
      if (run.status === 'QUEUED') {
        run.status = 'RUNNING';
        integration.status = 'SYNCING';
        this.record(em, run, 'integration.sync.started', integration.provider);
        await em.flush();
        this.settings.eventsRecorded();
        await this.publish(run);
      }
      for (let part = partOf(run); part; part = await this.nextPart(em, run, lease)) {
        const set = await mappingSetOf(em, integration.id, run.objectType, adapter);
        const plan = new MappingPlan(run.objectType, set.mappings);
        const fields = [...new Set(set.mappings.map((mapping) => mapping.source))];
        while (run.phase === 'PULL') await this.pullPage(em, run, lease, adapter, plan, fields, set.conflictPolicy);
        while (await this.pushPage(em, run, lease, adapter, plan)) {
          // Each page moves the push cursor on.
        }
      }
      await em.transactional(async (tx) => {
        await this.renewLease(tx, run, lease);
        Object.assign(run, { status: 'COMPLETED', finishedAt: new Date(this.settings.now()), leaseHolder: null, leasedUntil: null });
        await tx.nativeUpdate(
          Integration,
          { id: integration.id },
          { status: 'CONNECTED', statusMessage: null, lastSyncAt: run.finishedAt },
        );
        this.record(tx, run, 'integration.sync.completed', integration.provider);
        tx.persist(run);
      });
      this.settings.eventsRecorded();
      await this.publish(run);
    } catch (error) {
      if (error instanceof LeaseLost) {
        this.settings.logger.warn({ runId: run.id }, 'sync run taken over by another worker; this one stops');
        return;
      }
      await this.failed(job, lease, error);
    }
  }

  /** A job for a run another worker holds: it comes back when that lease would lapse, unless the run ended. */
  private async leaveToHolder(em: EntityManager, job: SyncJob): Promise<void> {
    const run = await em.findOne(CrmSyncRun, { id: job.runId });
    if (!run || !(ACTIVE as readonly string[]).includes(run.status) || !run.leasedUntil) return;
    const delayMs = Math.max(run.leasedUntil.getTime() - this.settings.now(), 0) + 1;
    this.settings.logger.info({ runId: run.id, delayMs }, 'sync run is leased by another worker; its job comes back when the lease lapses');
    await this.settings.queue.enqueue(job, { delayMs });
  }

  /**
   * Extends this worker's lease, in the transaction of the page it commits; a lease another worker took over stops the
   * page (and the transaction) with LeaseLost. A lease that lapsed during a slow page but that nobody took is still
   * this worker's: taking over sets a new holder in the same row, so the two updates cannot both succeed, and stopping
   * here would leave the run active with no worker and no job.
   */
  private async renewLease(tx: EntityManager, run: CrmSyncRun, lease: string): Promise<void> {
    const until = new Date(this.settings.now() + this.settings.leaseMs);
    const renewed = await tx.nativeUpdate(CrmSyncRun, { id: run.id, leaseHolder: lease }, { leasedUntil: until });
    if (renewed === 0) throw new LeaseLost(run.id);
    run.leasedUntil = until;
  }

  /** Moves the run on to its next kind of record, from where the last run left that kind; undefined after the last. */
  private async nextPart(em: EntityManager, run: CrmSyncRun, lease: string): Promise<SyncRunObject | undefined> {
    const index = run.objects.findIndex((part) => part.objectType === run.objectType);
    const next = run.objects[index + 1];
    if (!next) return undefined;
    await em.transactional(async (tx) => {
      await this.renewLease(tx, run, lease);
      const since = next.pullHighWater ? new Date(next.pullHighWater) : null;
      Object.assign(run, {
        objectType: next.objectType,
        phase: 'PULL',
        pullSince: since,
        pullCursor: null,
        pullHighWater: since,
        pushCursor: null,
      });
      tx.persist(run);
    });
    return next;
  }

  private async pullPage(
    em: EntityManager,
    run: CrmSyncRun,
    lease: string,
    adapter: CrmAdapter,
    plan: MappingPlan,
    fields: string[],
    policy: ConflictPolicy,
  ): Promise<void> {
    const objectType = run.objectType;
    const page = await adapter.listChanged(objectType, run.pullSince ?? null, run.pullCursor ?? null, fields);
    const inbound = await Promise.all(page.records.map((record) => plan.inbound(record.properties)));
    await em.transactional(async (tx) => {
      await this.renewLease(tx, run, lease);
      const now = new Date(this.settings.now());
      const scope = { integrationId: run.integrationId, objectType };
      const links = await tx.find(CrmExternalLink, { ...scope, externalId: { $in: page.records.map((record) => record.externalId) } });
      const linkByExternalId = new Map(links.map((link) => [link.externalId, link]));
      const recordIds = links.map((link) => link.recordId);
      const records = new Map((await findRecords(tx, objectType, recordIds)).map((record) => [record.id, record]));
      const held = new Map(
        (await tx.find(CrmSyncConflict, { ...scope, recordId: { $in: recordIds }, resolvedAt: null })).map((conflict) => [
          conflict.recordId,
          conflict,
        ]),
      );
      const companyIds = objectType === 'DEAL' ? await this.companyIdsOf(tx, run.integrationId, page.records) : null;
      page.records.forEach((providerRecord, index) => {
        if (!run.pullHighWater || providerRecord.updatedAt > run.pullHighWater) run.pullHighWater = providerRecord.updatedAt;
        const link = linkByExternalId.get(providerRecord.externalId);
        const record = link && records.get(link.recordId);
        const values = { ...inbound[index]! };
        if (companyIds) {
          // A CRM that did not say (undefined) leaves the deal's company as it is here.
          values.companyId =
            providerRecord.companyExternalId === undefined
              ? ((record as { companyId?: string | null } | undefined)?.companyId ?? null)
              : providerRecord.companyExternalId === null
                ? null
                : (companyIds.get(providerRecord.companyExternalId) ?? null);
        }
        const hash = hashOf(values);
        if (!link || !record) {
          const created = newRecord(tx, objectType, run.tenantId, now);
          writeFields(created, values);
          if (link)
            Object.assign(link, {
              recordId: created.id,
              providerUpdatedAt: providerRecord.updatedAt,
              localUpdatedAt: now,
              contentHash: hash,
              syncedAt: now,
            });
          else this.link(tx, run, created.id, providerRecord, now, hash);
          tally(run, 'pulled');
          return;
        }
        // Seen already: an echo of what this side pushed, or a page read again after an interruption.
        if (link.providerUpdatedAt && providerRecord.updatedAt <= link.providerUpdatedAt) return;
        link.providerUpdatedAt = providerRecord.updatedAt;
        const conflict = held.get(record.id);
        if (conflict) {
          Object.assign(conflict, { providerValues: values, providerUpdatedAt: providerRecord.updatedAt });
          return;
        }
        if (hash === link.contentHash) return;
        if (record.updatedAt > link.localUpdatedAt) {
          tally(run, 'conflicts');
          const winner = winnerOf(policy, providerRecord.updatedAt, record.updatedAt);
          if (winner === 'HOLD') {
            tx.create(CrmSyncConflict, {
              tenantId: run.tenantId,
              ...scope,
              recordId: record.id,
              externalId: providerRecord.externalId,
              nexusflowValues: syncedValues(objectType, plan, record),
              providerValues: values,
              providerUpdatedAt: providerRecord.updatedAt,
              resolvedAt: null,
              resolvedBy: null,
              choice: null,
            });
            return;
          }
          // NexusFlow's record stays changed since it last agreed, so the push sends it over the CRM's.
          if (winner === 'NEXUSFLOW') return;
        }
        writeFields(record, values);
        record.updatedAt = now;
        Object.assign(link, { localUpdatedAt: now, contentHash: hash, syncedAt: now });
        tally(run, 'pulled');
      });
      run.pullCursor = page.nextCursor;
      run.objects = run.objects.map((part) =>
        part.objectType === objectType ? { ...part, pullHighWater: run.pullHighWater?.toISOString() ?? null } : part,
      );
      if (page.nextCursor === null) run.phase = 'PUSH';
      // The run's row joins this unit of work, so its cursor commits with the page's records or not at all.
      tx.persist(run);
    });
    await this.publish(run);
  }

  /** NexusFlow's ids of the companies the CRM's deals belong to, by the CRM's ids of them (companies linked only). */
  private async companyIdsOf(tx: EntityManager, integrationId: string, deals: readonly ProviderRecord[]): Promise<Map<string, string>> {
    const externalIds = [...new Set(deals.flatMap((deal) => (deal.companyExternalId ? [deal.companyExternalId] : [])))];
    if (externalIds.length === 0) return new Map();
    const links = await tx.find(CrmExternalLink, { integrationId, objectType: 'COMPANY', externalId: { $in: externalIds } });
    return new Map(links.map((link) => [link.externalId, link.recordId]));
  }

  /**
   * The CRM's id of the company a deal belongs to: null for none, undefined for records other than deals and for a
   * company the CRM does not have yet (the deal's association is then left as it is).
   */
  private async companyExternalIdOf(
    em: EntityManager,
    integrationId: string,
    objectType: CrmObjectType,
    record: CrmRecord,
  ): Promise<string | null | undefined> {
    if (objectType !== 'DEAL') return undefined;
    const companyId = (record as { companyId?: string | null }).companyId ?? null;
    if (companyId === null) return null;
    const link = await em.findOne(CrmExternalLink, { integrationId, objectType: 'COMPANY', recordId: companyId });
    return link?.externalId;
  }

  /** One page of NexusFlow's records changed since they last agreed with the CRM; false when none were left. */
  private async pushPage(em: EntityManager, run: CrmSyncRun, lease: string, adapter: CrmAdapter, plan: MappingPlan): Promise<boolean> {
    const objectType = run.objectType;
    const rows = await em.getConnection().execute<{ id: string }[]>(
      `select c.id from ${RECORD_TABLES[objectType]} c
       left join crm_external_links l on l.record_id = c.id and l.integration_id = :integrationId::uuid and l.object_type = :objectType
       where c.tenant_id = :tenantId::uuid and (l.id is null or c.updated_at > l.local_updated_at) and c.id > :after::uuid
         and not exists (
           select 1 from crm_sync_conflicts k where k.record_id = c.id and k.integration_id = :integrationId::uuid and k.resolved_at is null
         )
       order by c.id limit :limit`,
      {
        integrationId: run.integrationId,
        objectType,
        tenantId: run.tenantId,
        after: run.pushCursor ?? '00000000-0000-0000-0000-000000000000',
        limit: this.settings.pageSize,
      },
    );
    if (rows.length === 0) return false;
    const records = await findRecords(
      em,
      objectType,
      rows.map((row) => row.id),
    );
    const scope = { integrationId: run.integrationId, objectType };
    const links = new Map(
      (await em.find(CrmExternalLink, { ...scope, recordId: { $in: records.map((record) => record.id) } })).map((link) => [
        link.recordId,
        link,
      ]),
    );
    const companies =
      objectType === 'DEAL'
        ? new Map(
            (
              await em.find(CrmExternalLink, {
                integrationId: run.integrationId,
                objectType: 'COMPANY',
                recordId: {
                  $in: records.flatMap((record) =>
                    (record as { companyId?: string | null }).companyId ? [(record as { companyId: string }).companyId] : [],
                  ),
                },
              })
            ).map((link) => [link.recordId, link.externalId]),
          )
        : null;
    const companyExternalIdOf = (record: CrmRecord): string | null | undefined => {
      if (!companies) return undefined;
      const companyId = (record as { companyId?: string | null }).companyId ?? null;
      return companyId === null ? null : companies.get(companyId);
    };
    const creationKey = adapter.creationKey(objectType);
    const updates: { record: CrmRecord; link: CrmExternalLink; properties: Record<string, string> }[] = [];
    const creates: { record: CrmRecord; key: string; properties: Record<string, string> }[] = [];
    for (const record of records) {
      const properties = await plan.outbound(record);
      const link = links.get(record.id);
      if (link) updates.push({ record, link, properties });
      else if (creationKey.source === 'NEXUSFLOW_ID') creates.push({ record, key: record.id, properties });
      // Without its key a record cannot be created idempotently: it waits until it has one.
      else if (properties[creationKey.property]) creates.push({ record, key: properties[creationKey.property]!.toLowerCase(), properties });
    }
    const updated =
      updates.length > 0
        ? await adapter.update(
            objectType,
            updates.map(({ record, link, properties }) => ({
              externalId: link.externalId,
              properties,
              companyExternalId: companyExternalIdOf(record),
            })),
          )
        : new Map<string, ProviderRecord>();
    const created =
      creates.length > 0
        ? await adapter.createOrMatch(
            objectType,
            creates.map(({ record, key, properties }) => ({ key, properties, companyExternalId: companyExternalIdOf(record) })),
          )
        : new Map<string, ProviderRecord>();
    await em.transactional(async (tx) => {
      await this.renewLease(tx, run, lease);
      const now = new Date(this.settings.now());
      for (const { record, link } of updates) {
        const answer = updated.get(link.externalId);
        if (!answer) continue;
        Object.assign(link, {
          providerUpdatedAt: answer.updatedAt,
          localUpdatedAt: record.updatedAt,
          contentHash: hashOf(syncedValues(objectType, plan, record)),
          syncedAt: now,
        });
        tally(run, 'pushed');
      }
      const taken = new Set(
        (await tx.find(CrmExternalLink, { ...scope, externalId: { $in: [...created.values()].map((answer) => answer.externalId) } })).map(
          (link) => link.externalId,
        ),
      );
      for (const { record, key } of creates) {
        const answer = created.get(key);
        // Two NexusFlow records with one key (two contacts with one email) are one record at the CRM: the first keeps the link.
        if (!answer || taken.has(answer.externalId)) continue;
        taken.add(answer.externalId);
        this.link(tx, run, record.id, answer, now, hashOf(syncedValues(objectType, plan, record)), record.updatedAt);
        tally(run, 'pushed');
      }
      run.pushCursor = records.at(-1)!.id;
      tx.persist(run);
    });
    await this.publish(run);
    return true;
  }

  private link(
    tx: EntityManager,
    run: CrmSyncRun,
    recordId: string,
    record: ProviderRecord,
    now: Date,
    hash: string,
    localUpdatedAt = now,
  ): void {
    tx.create(CrmExternalLink, {
      tenantId: run.tenantId,
      integrationId: run.integrationId,
      objectType: run.objectType,
      recordId,
      externalId: record.externalId,
      providerUpdatedAt: record.updatedAt,
      localUpdatedAt,
      contentHash: hash,
      syncedAt: now,
    });
  }

  /**
   * A retryable failure queues the job again after a pause, up to the attempts allowed, releasing the lease for it;
   * anything else ends the run. A worker whose lease passed to another leaves the run to that one.
   */
  private async failed(job: SyncJob, lease: string, error: unknown): Promise<void> {
    const em = systemFork(this.settings.database);
    const run = await em.findOneOrFail(CrmSyncRun, { id: job.runId });
    if (run.leaseHolder !== lease) {
      this.settings.logger.warn({ runId: run.id, err: error }, 'sync attempt failed after another worker took the run over');
      return;
    }
    const retryable =
      (error instanceof ProviderRequestError && error.retryable) ||
      (error instanceof IntegrationTokenError && error.reason === 'PROVIDER_UNREACHABLE');
    const expected = error instanceof ProviderRequestError || error instanceof IntegrationTokenError || error instanceof MappingError;
    const message = expected ? error.message : 'The sync failed unexpectedly';
    if (!expected) {
      this.settings.logger.error({ err: error, runId: run.id }, 'sync run failed');
    }
    if (retryable && run.attempts + 1 < this.settings.maxAttempts) {
      const delayMs = this.settings.retryDelayMs * 2 ** run.attempts;
      // Held by nobody until its backoff ends, as a lease no worker renews: asking for the sync again, or the broker
      // coming back, queues only a run nobody holds, and the provider that asked to be left alone is left alone.
      Object.assign(run, { attempts: run.attempts + 1, leaseHolder: null, leasedUntil: new Date(this.settings.now() + delayMs) });
      await em.flush();
      this.settings.logger.warn({ runId: run.id, attempt: run.attempts, reason: message }, 'sync page failed; the run resumes shortly');
      await this.settings.queue.enqueue(job, { delayMs });
      return;
    }
    const integration = await em.findOne(Integration, { id: run.integrationId });
    Object.assign(run, {
      status: 'FAILED',
      error: message,
      finishedAt: new Date(this.settings.now()),
      leaseHolder: null,
      leasedUntil: null,
    });
    // TOKEN_EXPIRED was set by the refresh that found it; it says more than ERROR would.
    if (integration && integration.status !== 'TOKEN_EXPIRED') Object.assign(integration, { status: 'ERROR', statusMessage: message });
    this.record(em, run, 'integration.sync.failed', integration?.provider ?? null);
    await em.flush();
    this.settings.eventsRecorded();
    await this.publish(run);
  }

  private record(em: EntityManager, run: CrmSyncRun, type: string, provider: string | null): void {
    recordEvent(
      em,
      {
        type,
        tenantId: run.tenantId,
        payload: {
          integrationId: run.integrationId,
          runId: run.id,
          provider,
          pulled: run.pulled,
          pushed: run.pushed,
          conflicts: run.conflicts,
          objects: run.objects.map(({ objectType, pulled, pushed, conflicts }) => ({ objectType, pulled, pushed, conflicts })),
          ...(run.error === null ? {} : { error: run.error }),
        },
      },
      new Date(this.settings.now()),
    );
  }

  /** Progress is a convenience: a fan-out out of reach loses an update, never the sync. */
  private async publish(run: CrmSyncRun): Promise<void> {
    const update: SyncProgressUpdate = { tenantId: run.tenantId, run: snapshotOf(run) };
    await this.settings.pubsub.publish(syncProgressTopic(run.integrationId), update).catch((error: unknown) => {
      this.settings.logger.warn({ err: error, runId: run.id }, 'could not publish sync progress');
    });
  }
}

function winnerOf(policy: ConflictPolicy, providerUpdatedAt: Date, localUpdatedAt: Date): 'PROVIDER' | 'NEXUSFLOW' | 'HOLD' {
  switch (policy) {
    case 'PROVIDER_WINS':
      return 'PROVIDER';
    case 'NEXUSFLOW_WINS':
      return 'NEXUSFLOW';
    case 'NEWEST_WINS':
      return providerUpdatedAt > localUpdatedAt ? 'PROVIDER' : 'NEXUSFLOW';
    case 'HOLD':
      return 'HOLD';
  }
}
