import { createHash } from 'node:crypto';
import {
  recordEvent,
  requireRole,
  requireUser,
  requireUuid,
  Role,
  systemFork,
  type Database,
  type EntityManager,
  type Identity,
  type Logger,
  type PubSub,
  type WorkQueue,
} from '@nexusflow/kit';
import { CrmContact } from '../../entities/crm-contact.entity.ts';
import { CrmExternalLink } from '../../entities/crm-external-link.entity.ts';
import { CrmSyncConflict } from '../../entities/crm-sync-conflict.entity.ts';
import { CrmSyncRun } from '../../entities/crm-sync-run.entity.ts';
import { Integration } from '../../entities/integration.entity.ts';
import { IntegrationTokenError } from '../connections.ts';
import { PROVIDERS, type ProviderName } from '../providers.ts';
import { providerFailure, ProviderRequestError, type CrmAdapter, type ProviderRecord } from './adapter.ts';
import { mappingSetOf } from './crm-store.ts';
import { MappingError, MappingPlan, writeFields, type ConflictPolicy, type CrmObjectType } from './mappings.ts';

const ADMIN_ROLES = [Role.Owner, Role.Admin] as const;
const MAX_CONFLICTS_PAGE = 100;
const OBJECT_TYPE: CrmObjectType = 'CONTACT';

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
  'id' | 'integrationId' | 'status' | 'pulled' | 'pushed' | 'conflicts' | 'error' | 'startedAt' | 'finishedAt'
>;

export type SyncIntegrationResult =
  | CrmSyncRun
  | { __typename: 'IntegrationNotFound'; message: string; id: string }
  | { __typename: 'IntegrationNotSyncable'; message: string; id: string };

export type ResolveConflictResult =
  | { __typename: 'SyncConflictResolved'; id: string; choice: 'PROVIDER' | 'NEXUSFLOW'; contact: CrmContact }
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
});

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
}

/**
 * Two-way sync of a tenant's contacts with a CRM, as durable jobs: a run pulls the CRM's changes since the last run
 * page by page, then pushes NexusFlow's changes since each record last agreed with the CRM, storing its cursor with each
 * page's records in one transaction. Every write lands on a record's external link (unique per integration, kind and
 * id), and creation at the CRM goes by its unique field, so a run interrupted anywhere and run again makes nothing twice.
 */
export class SyncEngine {
  constructor(private readonly settings: SyncEngineSettings) {}

  /** Queues a run of a CRM integration; one already queued or running is returned instead. OWNER or ADMIN only. */
  async start(em: EntityManager, identity: Identity, integrationId: string): Promise<SyncIntegrationResult> {
    const caller = requireRole(identity, ADMIN_ROLES);
    const integration = await em.findOne(Integration, { id: requireUuid(integrationId, 'id'), disconnectedAt: null });
    if (!integration) return { __typename: 'IntegrationNotFound', message: `No integration ${integrationId}`, id: integrationId };
    const definition = PROVIDERS[integration.provider as ProviderName];
    if (definition.kind !== 'CRM' || this.settings.adapterFor(em, integration) === null) {
      return {
        __typename: 'IntegrationNotSyncable',
        message:
          definition.kind === 'CRM' ? `Sync with ${definition.displayName} is not available yet` : `${definition.displayName} is not a CRM`,
        id: integrationId,
      };
    }
    const active = await em.findOne(CrmSyncRun, { integrationId: integration.id, status: { $in: ['QUEUED', 'RUNNING'] } });
    if (active) return active;
    const previous = await em.findOne(
      CrmSyncRun,
      { integrationId: integration.id, status: 'COMPLETED' },
      { orderBy: { startedAt: 'desc' } },
    );
    const run = em.create(CrmSyncRun, {
      tenantId: caller.tenantId,
      integrationId: integration.id,
      objectType: OBJECT_TYPE,
      status: 'QUEUED',
      phase: 'PULL',
      pullSince: previous?.pullHighWater ?? null,
      pullCursor: null,
      pullHighWater: previous?.pullHighWater ?? null,
      pushCursor: null,
      pulled: 0,
      pushed: 0,
      conflicts: 0,
      attempts: 0,
      error: null,
      startedAt: new Date(this.settings.now()),
      finishedAt: null,
    });
    await em.flush();
    await this.settings.queue.enqueue({ runId: run.id });
    return run;
  }

  /** Runs queued or running when this process last stopped: with an in-process queue, their jobs died with it. */
  async requeueUnfinished(): Promise<number> {
    const runs = await systemFork(this.settings.database).find(CrmSyncRun, { status: { $in: ['QUEUED', 'RUNNING'] } });
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
    const [contact, link, integration] = await Promise.all([
      em.findOne(CrmContact, { id: conflict.recordId }),
      em.findOne(CrmExternalLink, { integrationId: conflict.integrationId, objectType: conflict.objectType, recordId: conflict.recordId }),
      em.findOne(Integration, { id: conflict.integrationId, disconnectedAt: null }),
    ]);
    if (!contact || !link || !integration) return notFound;
    const now = new Date(this.settings.now());
    const plan = new MappingPlan((await mappingSetOf(em, integration.id, OBJECT_TYPE)).mappings);
    if (choice === 'PROVIDER') {
      writeFields(contact, conflict.providerValues);
      contact.updatedAt = now;
      Object.assign(link, { localUpdatedAt: now, contentHash: hashOf(conflict.providerValues), syncedAt: now });
    } else {
      const adapter = this.settings.adapterFor(em, integration);
      if (!adapter) return notFound;
      let updated: ProviderRecord | undefined;
      try {
        updated = (await adapter.update(OBJECT_TYPE, [{ externalId: link.externalId, properties: await plan.outbound(contact) }])).get(
          link.externalId,
        );
      } catch (error) {
        throw providerFailure(error);
      }
      Object.assign(link, {
        providerUpdatedAt: updated?.updatedAt ?? link.providerUpdatedAt,
        localUpdatedAt: contact.updatedAt,
        contentHash: hashOf(plan.localValues(contact)),
        syncedAt: now,
      });
    }
    Object.assign(conflict, { resolvedAt: now, resolvedBy: caller.userId, choice });
    await em.flush();
    return { __typename: 'SyncConflictResolved', id: conflict.id, choice, contact };
  }

  /** The worker's part: a run from where it stands to its end; a failure worth retrying queues it again, later. */
  async handle(job: SyncJob): Promise<void> {
    const em = systemFork(this.settings.database);
    const run = await em.findOne(CrmSyncRun, { id: job.runId });
    if (!run || run.status === 'COMPLETED' || run.status === 'FAILED') return;
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
      const set = await mappingSetOf(em, integration.id, OBJECT_TYPE);
      const plan = new MappingPlan(set.mappings);
      const fields = [...new Set(set.mappings.map((mapping) => mapping.source))];
      while (run.phase === 'PULL') await this.pullPage(em, run, adapter, plan, fields, set.conflictPolicy);
      while (await this.pushPage(em, run, adapter, plan)) {
        // Each page moves the push cursor on.
      }
      await em.transactional(async (tx) => {
        Object.assign(run, { status: 'COMPLETED', finishedAt: new Date(this.settings.now()) });
        await tx.nativeUpdate(
          Integration,
          { id: integration.id },
          { status: 'CONNECTED', statusMessage: null, lastSyncAt: run.finishedAt },
        );
        this.record(tx, run, 'integration.sync.completed', integration.provider);
      });
      this.settings.eventsRecorded();
      await this.publish(run);
    } catch (error) {
      await this.failed(job, error);
    }
  }

  private async pullPage(
    em: EntityManager,
    run: CrmSyncRun,
    adapter: CrmAdapter,
    plan: MappingPlan,
    fields: string[],
    policy: ConflictPolicy,
  ): Promise<void> {
    const page = await adapter.listChanged(OBJECT_TYPE, run.pullSince ?? null, run.pullCursor ?? null, fields);
    const inbound = await Promise.all(page.records.map((record) => plan.inbound(record.properties)));
    await em.transactional(async (tx) => {
      const now = new Date(this.settings.now());
      const scope = { integrationId: run.integrationId, objectType: OBJECT_TYPE };
      const links = await tx.find(CrmExternalLink, { ...scope, externalId: { $in: page.records.map((record) => record.externalId) } });
      const linkByExternalId = new Map(links.map((link) => [link.externalId, link]));
      const recordIds = links.map((link) => link.recordId);
      const contacts = new Map((await tx.find(CrmContact, { id: { $in: recordIds } })).map((contact) => [contact.id, contact]));
      const held = new Map(
        (await tx.find(CrmSyncConflict, { ...scope, recordId: { $in: recordIds }, resolvedAt: null })).map((conflict) => [
          conflict.recordId,
          conflict,
        ]),
      );
      page.records.forEach((record, index) => {
        const values = inbound[index]!;
        const hash = hashOf(values);
        if (!run.pullHighWater || record.updatedAt > run.pullHighWater) run.pullHighWater = record.updatedAt;
        const link = linkByExternalId.get(record.externalId);
        const contact = link && contacts.get(link.recordId);
        if (!link || !contact) {
          const created = tx.create(CrmContact, {
            tenantId: run.tenantId,
            updatedAt: now,
            email: null,
            firstName: null,
            lastName: null,
            phone: null,
            company: null,
            custom: {},
          });
          writeFields(created, values);
          if (link)
            Object.assign(link, {
              recordId: created.id,
              providerUpdatedAt: record.updatedAt,
              localUpdatedAt: now,
              contentHash: hash,
              syncedAt: now,
            });
          else this.link(tx, run, created.id, record, now, hash);
          run.pulled += 1;
          return;
        }
        // Seen already: an echo of what this side pushed, or a page read again after an interruption.
        if (link.providerUpdatedAt && record.updatedAt <= link.providerUpdatedAt) return;
        link.providerUpdatedAt = record.updatedAt;
        const conflict = held.get(contact.id);
        if (conflict) {
          Object.assign(conflict, { providerValues: values, providerUpdatedAt: record.updatedAt });
          return;
        }
        if (hash === link.contentHash) return;
        if (contact.updatedAt > link.localUpdatedAt) {
          run.conflicts += 1;
          const winner = winnerOf(policy, record.updatedAt, contact.updatedAt);
          if (winner === 'HOLD') {
            tx.create(CrmSyncConflict, {
              tenantId: run.tenantId,
              ...scope,
              recordId: contact.id,
              externalId: record.externalId,
              nexusflowValues: plan.localValues(contact),
              providerValues: values,
              providerUpdatedAt: record.updatedAt,
              resolvedAt: null,
              resolvedBy: null,
              choice: null,
            });
            return;
          }
          // NexusFlow's record stays changed since it last agreed, so the push sends it over the CRM's.
          if (winner === 'NEXUSFLOW') return;
        }
        writeFields(contact, values);
        contact.updatedAt = now;
        Object.assign(link, { localUpdatedAt: now, contentHash: hash, syncedAt: now });
        run.pulled += 1;
      });
      run.pullCursor = page.nextCursor;
      if (page.nextCursor === null) run.phase = 'PUSH';
      // The run's row joins this unit of work, so its cursor commits with the page's records or not at all.
      tx.persist(run);
    });
    await this.publish(run);
  }

  /** One page of NexusFlow's contacts changed since they last agreed with the CRM; false when none were left. */
  private async pushPage(em: EntityManager, run: CrmSyncRun, adapter: CrmAdapter, plan: MappingPlan): Promise<boolean> {
    const rows = await em.getConnection().execute<{ id: string }[]>(
      `select c.id from crm_contacts c
       left join crm_external_links l on l.record_id = c.id and l.integration_id = :integrationId::uuid and l.object_type = :objectType
       where c.tenant_id = :tenantId::uuid and (l.id is null or c.updated_at > l.local_updated_at) and c.id > :after::uuid
         and not exists (
           select 1 from crm_sync_conflicts k where k.record_id = c.id and k.integration_id = :integrationId::uuid and k.resolved_at is null
         )
       order by c.id limit :limit`,
      {
        integrationId: run.integrationId,
        objectType: OBJECT_TYPE,
        tenantId: run.tenantId,
        after: run.pushCursor ?? '00000000-0000-0000-0000-000000000000',
        limit: this.settings.pageSize,
      },
    );
    if (rows.length === 0) return false;
    const contacts = await em.find(CrmContact, { id: { $in: rows.map((row) => row.id) } }, { orderBy: { id: 'asc' } });
    const links = new Map(
      (
        await em.find(CrmExternalLink, {
          integrationId: run.integrationId,
          objectType: OBJECT_TYPE,
          recordId: { $in: contacts.map((contact) => contact.id) },
        })
      ).map((link) => [link.recordId, link]),
    );
    const unique = adapter.uniqueField(OBJECT_TYPE);
    const updates: { contact: CrmContact; link: CrmExternalLink; properties: Record<string, string> }[] = [];
    const creates: { contact: CrmContact; key: string; properties: Record<string, string> }[] = [];
    for (const contact of contacts) {
      const properties = await plan.outbound(contact);
      const link = links.get(contact.id);
      if (link) updates.push({ contact, link, properties });
      // Without its unique field a record cannot be created idempotently: it waits until it has one.
      else if (properties[unique]) creates.push({ contact, key: properties[unique].toLowerCase(), properties });
    }
    const updated =
      updates.length > 0
        ? await adapter.update(
            OBJECT_TYPE,
            updates.map(({ link, properties }) => ({ externalId: link.externalId, properties })),
          )
        : new Map<string, ProviderRecord>();
    const created =
      creates.length > 0
        ? await adapter.createOrMatch(
            OBJECT_TYPE,
            creates.map(({ key, properties }) => ({ key, properties })),
          )
        : new Map<string, ProviderRecord>();
    await em.transactional(async (tx) => {
      const now = new Date(this.settings.now());
      for (const { contact, link } of updates) {
        const record = updated.get(link.externalId);
        if (!record) continue;
        Object.assign(link, {
          providerUpdatedAt: record.updatedAt,
          localUpdatedAt: contact.updatedAt,
          contentHash: hashOf(plan.localValues(contact)),
          syncedAt: now,
        });
        run.pushed += 1;
      }
      const taken = new Set(
        (
          await tx.find(CrmExternalLink, {
            integrationId: run.integrationId,
            objectType: OBJECT_TYPE,
            externalId: { $in: [...created.values()].map((record) => record.externalId) },
          })
        ).map((link) => link.externalId),
      );
      for (const { contact, key } of creates) {
        const record = created.get(key);
        // Two NexusFlow contacts with one email are one record at the CRM: the first keeps the link.
        if (!record || taken.has(record.externalId)) continue;
        taken.add(record.externalId);
        this.link(tx, run, contact.id, record, now, hashOf(plan.localValues(contact)), contact.updatedAt);
        run.pushed += 1;
      }
      run.pushCursor = contacts.at(-1)!.id;
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
      objectType: OBJECT_TYPE,
      recordId,
      externalId: record.externalId,
      providerUpdatedAt: record.updatedAt,
      localUpdatedAt,
      contentHash: hash,
      syncedAt: now,
    });
  }

  /** A retryable failure queues the job again after a pause, up to the attempts allowed; anything else ends the run. */
  private async failed(job: SyncJob, error: unknown): Promise<void> {
    const em = systemFork(this.settings.database);
    const run = await em.findOneOrFail(CrmSyncRun, { id: job.runId });
    const retryable =
      (error instanceof ProviderRequestError && error.retryable) ||
      (error instanceof IntegrationTokenError && error.reason === 'PROVIDER_UNREACHABLE');
    const expected = error instanceof ProviderRequestError || error instanceof IntegrationTokenError || error instanceof MappingError;
    const message = expected ? error.message : 'The sync failed unexpectedly';
    if (!expected) {
      this.settings.logger.error({ err: error, runId: run.id }, 'sync run failed');
    }
    if (retryable && run.attempts + 1 < this.settings.maxAttempts) {
      run.attempts += 1;
      await em.flush();
      this.settings.logger.warn({ runId: run.id, attempt: run.attempts, reason: message }, 'sync page failed; the run resumes shortly');
      await this.settings.queue.enqueue(job, { delayMs: this.settings.retryDelayMs * 2 ** (run.attempts - 1) });
      return;
    }
    const integration = await em.findOne(Integration, { id: run.integrationId });
    Object.assign(run, { status: 'FAILED', error: message, finishedAt: new Date(this.settings.now()) });
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
