import { pipeline } from 'node:stream/promises';
import {
  callSubgraph,
  ErrorCode,
  HttpError,
  isUuid,
  requireRole,
  Role,
  sendHttpError,
  SignedLinks,
  systemFork,
  type Database,
  type EntityManager,
  type Identity,
  type Logger,
  type RouteHandler,
  type WorkQueue,
} from '@nexusflow/kit';
import { SendAnalyticsNotificationDocument } from '../__generated__/notifications-operations.ts';
import { AnalyticsExportJob } from '../entities/analytics-export-job.entity.ts';
import type { ReportFormat } from '../entities/report.entity.ts';
import type { ExportStorage } from './export-storage.ts';
import { exportHeader, exportLine, type EventExports, type ExportFormat } from './exports.ts';
import { ANALYST_ROLES } from './metrics.ts';
import { checkedPeriod, type Period } from './periods.ts';
import { invalid, type InvalidInput } from './reports.ts';

export const EXPORT_FILE_PATH = '/exports/analytics/files';
/** The notification's event type: a recipient chooses its channels, and a tenant may word it, by it. */
export const EXPORT_READY_EVENT_TYPE = 'analytics.export.ready';
/** How long a worker holds a job without renewing its lease (each batch renews it) before another may take it over. */
const LEASE_MS = 60_000;
const MAX_ATTEMPTS = 3;
const MAX_JOBS_LISTED = 100;
const RETRY_DELAY_MS = 5_000;

export interface ExportJobMessage {
  jobId: string;
}

interface FileClaims {
  tenantId: string;
  jobId: string;
}

const isFileClaims = (claims: unknown): claims is FileClaims => {
  const { tenantId, jobId } = (claims ?? {}) as Partial<FileClaims>;
  return typeof tenantId === 'string' && typeof jobId === 'string';
};

const fileFormat = (format: ReportFormat): ExportFormat => (format === 'CSV' ? 'csv' : 'jsonl');

export interface ExportJobsOptions {
  database: Database;
  queue: WorkQueue<ExportJobMessage>;
  storage: ExportStorage;
  exports: EventExports;
  baseUrl: string;
  internalSecret: string;
  now: () => number;
  /** How long a written file is kept. */
  retentionMs: number;
  /** Where the requester is told that the file is ready. */
  notificationsUrl: string;
  logger: Logger;
}

/**
 * Background exports of a tenant's events into files: a job is recorded QUEUED and its id sent on a work queue; the
 * worker that takes it over (a compare-and-set on its status and lease, so a redelivered message does nothing twice)
 * streams the events from the database in batches into the storage, then records the rows and bytes written. A job
 * left RUNNING by a worker that died is taken over once its lease runs out; files are removed when they expire.
 */
export class ExportJobs {
  private readonly links: SignedLinks<FileClaims>;
  /** The link of the notification that a file is ready: valid as long as the file is kept, since it is read later. */
  private readonly notifiedLinks: SignedLinks<FileClaims>;

  constructor(private readonly options: ExportJobsOptions) {
    this.links = new SignedLinks<FileClaims>('analytics-export-file', options.internalSecret, options.now);
    this.notifiedLinks = new SignedLinks<FileClaims>('analytics-export-file', options.internalSecret, options.now, options.retentionMs);
  }

  async start(
    em: EntityManager,
    identity: Identity,
    from: Date,
    to: Date,
    format: ReportFormat,
  ): Promise<AnalyticsExportJob | InvalidInput> {
    const { tenantId, userId } = requireRole(identity, ANALYST_ROLES);
    let period: Period;
    try {
      period = checkedPeriod(from, to);
    } catch (error) {
      return invalid('to', (error as Error).message);
    }
    const job = em.create(AnalyticsExportJob, {
      tenantId,
      requestedBy: userId,
      periodFrom: period.from,
      periodTo: period.to,
      format,
      status: 'QUEUED',
      rows: 0,
      bytes: 0,
      attempts: 0,
      error: null,
      leaseExpiresAt: null,
      storageKey: null,
      finishedAt: null,
      expiresAt: null,
    });
    await em.flush();
    // Recorded already: a queue that cannot take it now gets it again from the recovery pass.
    await this.options.queue.enqueue({ jobId: job.id }, { waitForReconnection: false }).catch((error: unknown) => {
      this.options.logger.warn({ err: error, jobId: job.id }, 'could not queue an export job; the recovery pass will');
    });
    return job;
  }

  async get(em: EntityManager, identity: Identity, id: string): Promise<AnalyticsExportJob | null> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    return isUuid(id) ? em.findOne(AnalyticsExportJob, { id, tenantId }) : null;
  }

  list(em: EntityManager, identity: Identity, first: number): Promise<AnalyticsExportJob[]> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const limit = Math.min(Math.max(Math.trunc(first), 1), MAX_JOBS_LISTED);
    return em.find(AnalyticsExportJob, { tenantId }, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  /** The queue the jobs travel on, for the workers that consume it. */
  get queue(): WorkQueue<ExportJobMessage> {
    return this.options.queue;
  }

  downloadUrlOf(job: AnalyticsExportJob, links: SignedLinks<FileClaims> = this.links): string | null {
    if (job.status !== 'SUCCEEDED') return null;
    return links.linkTo(`${this.options.baseUrl.replace(/\/$/, '')}${EXPORT_FILE_PATH}`, { tenantId: job.tenantId, jobId: job.id });
  }

  /** Handles one message of the queue: runs its job unless another worker holds it or it is done. */
  async work({ jobId }: ExportJobMessage): Promise<void> {
    const now = this.options.now();
    const em = systemFork(this.options.database);
    const claimed = await em.getConnection().execute<{ id: string }[]>(
      `update "analytics_export_jobs" set "status" = 'RUNNING', "attempts" = "attempts" + 1, "lease_expires_at" = :lease::timestamptz,
         "updated_at" = :now::timestamptz
       where "id" = :id and ("status" = 'QUEUED' or ("status" = 'RUNNING' and "lease_expires_at" < :now::timestamptz))
       returning "id"`,
      { id: jobId, now: new Date(now).toISOString(), lease: new Date(now + LEASE_MS).toISOString() },
    );
    if (claimed.length === 0) return;
    const job = await em.findOneOrFail(AnalyticsExportJob, jobId);
    try {
      await this.write(em, job);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const again = job.attempts < MAX_ATTEMPTS;
      this.options.logger.warn(
        { err: error, jobId, attempts: job.attempts },
        again ? 'an export job failed; retrying' : 'an export job failed',
      );
      Object.assign(job, { status: again ? 'QUEUED' : 'FAILED', error: again ? null : message, leaseExpiresAt: null });
      await em.flush();
      if (again) await this.options.queue.enqueue({ jobId }, { delayMs: RETRY_DELAY_MS });
      return;
    }
    await this.notifyReady(await em.findOneOrFail(AnalyticsExportJob, jobId, { refresh: true }));
  }

  /**
   * Tells the requester that the file is ready, through their preferred channels; the file is there whether or not
   * this reaches them (the job answers its link too), so a failure is only logged.
   */
  private async notifyReady(job: AnalyticsExportJob): Promise<void> {
    const link = this.downloadUrlOf(job, this.notifiedLinks)!;
    const period = `${job.periodFrom.toISOString().slice(0, 10)} – ${job.periodTo.toISOString().slice(0, 10)}`;
    try {
      await callSubgraph({
        url: this.options.notificationsUrl,
        internalSecret: this.options.internalSecret,
        identity: { kind: 'user', userId: job.requestedBy, tenantId: job.tenantId, roles: [Role.Member] },
        query: SendAnalyticsNotificationDocument,
        variables: {
          input: {
            userId: job.requestedBy,
            eventType: EXPORT_READY_EVENT_TYPE,
            variables: {
              title: 'Your analytics export is ready',
              body: `The export of ${period} (${job.rows} events) is ready until ${job.expiresAt!.toISOString()}: ${link}`,
              link,
            },
            idempotencyKey: `analytics-export:${job.id}`,
          },
        },
      });
    } catch (error) {
      this.options.logger.warn({ err: error, jobId: job.id }, 'could not tell the requester that an export is ready');
    }
  }

  private async write(em: EntityManager, job: AnalyticsExportJob): Promise<void> {
    const format = fileFormat(job.format);
    const key = `${job.id}.${format}`;
    const rows = this.options.exports.rowsOf(this.options.database, job.tenantId, { from: job.periodFrom, to: job.periodTo });
    let written = 0;
    const renewLease = async () => {
      const now = this.options.now();
      await em.nativeUpdate(
        AnalyticsExportJob,
        { id: job.id },
        { rows: written, leaseExpiresAt: new Date(now + LEASE_MS), updatedAt: new Date(now) },
      );
    };
    async function* chunks() {
      const header = exportHeader(format);
      if (header) yield header;
      for await (const batch of rows) {
        yield batch.map((row) => exportLine(row, format)).join('');
        written += batch.length;
        await renewLease();
      }
    }
    const { bytes } = await this.options.storage.write(key, chunks());
    const now = this.options.now();
    em.clear();
    await em.nativeUpdate(
      AnalyticsExportJob,
      { id: job.id },
      {
        status: 'SUCCEEDED',
        rows: written,
        bytes,
        storageKey: key,
        leaseExpiresAt: null,
        finishedAt: new Date(now),
        expiresAt: new Date(now + this.options.retentionMs),
        updatedAt: new Date(now),
      },
    );
  }

  /**
   * Queues again the jobs no worker is known to hold: RUNNING ones whose lease ran out (their worker died) and QUEUED
   * ones that waited longer than a lease (their message was lost with an in-memory queue, or never sent). A message
   * sent twice is harmless: only one worker takes a job over. Returns how many were queued.
   */
  async recover(): Promise<number> {
    const now = new Date(this.options.now());
    const stale = await systemFork(this.options.database).find(
      AnalyticsExportJob,
      {
        $or: [
          { status: 'RUNNING', leaseExpiresAt: { $lt: now } },
          { status: 'QUEUED', updatedAt: { $lt: new Date(now.getTime() - LEASE_MS) } },
        ],
      },
      { fields: ['id'], limit: 100 },
    );
    for (const { id } of stale) await this.options.queue.enqueue({ jobId: id });
    return stale.length;
  }

  /** Removes the files whose time is up; their jobs become EXPIRED. Returns how many were removed. */
  async prune(): Promise<number> {
    const em = systemFork(this.options.database);
    const expired = await em.find(
      AnalyticsExportJob,
      { status: 'SUCCEEDED', expiresAt: { $lte: new Date(this.options.now()) } },
      { limit: 100 },
    );
    for (const job of expired) {
      if (job.storageKey) await this.options.storage.remove(job.storageKey);
      job.status = 'EXPIRED';
    }
    await em.flush();
    return expired.length;
  }

  /** GET /exports/analytics/files?token=…: the file of the link's job, while it is kept. */
  route(): RouteHandler {
    return async (req, res, url) => {
      if (url.pathname !== EXPORT_FILE_PATH) return false;
      if (req.method !== 'GET') {
        sendHttpError(res, new HttpError(405, ErrorCode.BadUserInput, 'Use GET', { allow: 'GET' }));
        return true;
      }
      const claims = this.links.read(url.searchParams.get('token') ?? '', isFileClaims);
      const job = claims
        ? await systemFork(this.options.database).findOne(AnalyticsExportJob, { id: claims.jobId, tenantId: claims.tenantId })
        : null;
      const file = job?.status === 'SUCCEEDED' && job.storageKey ? await this.options.storage.read(job.storageKey) : undefined;
      if (!job || !file) {
        sendHttpError(res, new HttpError(403, ErrorCode.Forbidden, 'The export link is invalid or has expired'));
        return true;
      }
      const format = fileFormat(job.format);
      res.writeHead(200, {
        'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        'content-disposition': `attachment; filename="analytics-${job.periodFrom.toISOString().slice(0, 10)}-${job.periodTo.toISOString().slice(0, 10)}.${format}"`,
        'content-length': String(job.bytes),
        'cache-control': 'no-store',
      });
      try {
        await pipeline(file, res);
      } catch (error) {
        this.options.logger.warn({ err: error, jobId: job.id }, 'an export download was cut off');
      }
      return true;
    };
  }
}
