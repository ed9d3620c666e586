import {
  csvCell,
  ErrorCode,
  HttpError,
  requireRole,
  sendHttpError,
  SignedLinks,
  systemFork,
  writeChunk,
  type Database,
  type EntityManager,
  type Identity,
  type Logger,
  type RouteHandler,
} from '@nexusflow/kit';
import { ANALYST_ROLES } from './metrics.ts';
import { checkedPeriod, type Period } from './periods.ts';

export const EXPORT_PATH = '/exports/analytics';
const EXPORT_BATCH = 1000;

export type ExportFormat = 'csv' | 'jsonl';

interface ExportClaims {
  tenantId: string;
  from: string;
  to: string;
  format: ExportFormat;
}

const isExportClaims = (claims: unknown): claims is ExportClaims => {
  const { tenantId, from, to, format } = (claims ?? {}) as Partial<ExportClaims>;
  return typeof tenantId === 'string' && typeof from === 'string' && typeof to === 'string' && (format === 'csv' || format === 'jsonl');
};

export interface AnalyticsExport extends Period {
  totalEvents: number;
  csvUrl: string;
  jsonLinesUrl: string;
}

const COLUMNS = [
  'id',
  'occurredAt',
  'recordedAt',
  'type',
  'userId',
  'subjectId',
  'subjectIds',
  'durationMs',
  'status',
  'tokens',
  'payload',
] as const;

interface StoredRow {
  id: string;
  occurred_at: Date | string;
  created_at: Date | string;
  type: string;
  user_id: string | null;
  subject_id: string | null;
  subject_ids: unknown;
  duration_ms: string | number | null;
  status: string | null;
  tokens: string | number | null;
  payload: unknown;
}

const json = (value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value);
const numberOrNull = (value: string | number | null) => (value === null ? null : Number(value));

function exported(row: StoredRow): Record<(typeof COLUMNS)[number], unknown> {
  return {
    id: row.id,
    occurredAt: new Date(row.occurred_at).toISOString(),
    recordedAt: new Date(row.created_at).toISOString(),
    type: row.type,
    userId: row.user_id,
    subjectId: row.subject_id,
    subjectIds: json(row.subject_ids),
    durationMs: numberOrNull(row.duration_ms),
    status: row.status,
    tokens: numberOrNull(row.tokens),
    payload: json(row.payload),
  };
}

/**
 * Exports of a tenant's events: links signed by the kit's {@link SignedLinks} (the route is not behind the gateway),
 * and the route that streams them in batches, so that an export of any size takes little memory.
 */
export class EventExports {
  private readonly links: SignedLinks<ExportClaims>;

  constructor(
    private readonly baseUrl: string,
    secret: string,
    now: () => number,
  ) {
    this.links = new SignedLinks<ExportClaims>('analytics-export', secret, now);
  }

  async describe(em: EntityManager, identity: Identity, from: Date, to: Date): Promise<AnalyticsExport> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(from, to);
    const [counted] = await em.execute<{ count: string }[]>(
      `select count(*) as "count" from "analytics_events" where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ?`,
      [tenantId, period.from, period.to],
    );
    const url = `${this.baseUrl.replace(/\/$/, '')}${EXPORT_PATH}`;
    const claims = { tenantId, from: period.from.toISOString(), to: period.to.toISOString() };
    return {
      ...period,
      totalEvents: Number(counted?.count ?? 0),
      csvUrl: this.links.linkTo(url, { ...claims, format: 'csv' }),
      jsonLinesUrl: this.links.linkTo(url, { ...claims, format: 'jsonl' }),
    };
  }

  /** GET /exports/analytics?token=…: the events of the link's tenant and period, oldest first. */
  route(database: Database, logger: Logger): RouteHandler {
    return async (req, res, url) => {
      if (url.pathname !== EXPORT_PATH) return false;
      if (req.method !== 'GET') {
        sendHttpError(res, new HttpError(405, ErrorCode.BadUserInput, 'Use GET', { allow: 'GET' }));
        return true;
      }
      const claims = this.links.read(url.searchParams.get('token') ?? '', isExportClaims);
      if (!claims) {
        sendHttpError(res, new HttpError(403, ErrorCode.Forbidden, 'The export link is invalid or has expired'));
        return true;
      }
      res.writeHead(200, {
        'content-type': claims.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        'content-disposition': `attachment; filename="analytics-${claims.from.slice(0, 10)}-${claims.to.slice(0, 10)}.${claims.format}"`,
        'cache-control': 'no-store',
      });
      try {
        if (claims.format === 'csv') await writeChunk(res, `${COLUMNS.join(',')}\r\n`);
        let after: { occurredAt: Date; id: string } | undefined;
        for (;;) {
          const batch = await this.batch(systemFork(database), claims, after);
          for (const stored of batch) {
            const row = exported(stored);
            await writeChunk(
              res,
              claims.format === 'csv' ? `${COLUMNS.map((column) => csvCell(row[column])).join(',')}\r\n` : `${JSON.stringify(row)}\n`,
            );
          }
          if (batch.length < EXPORT_BATCH) break;
          const last = batch.at(-1)!;
          after = { occurredAt: new Date(last.occurred_at), id: last.id };
        }
        res.end();
      } catch (error) {
        // The status is sent already: cutting the connection is how a client learns the download is incomplete.
        logger.warn({ err: error }, 'an analytics export failed halfway; its connection was cut');
        res.destroy(error as Error);
      }
      return true;
    };
  }

  /** The next batch after `after`, in order of time then id (the primary key, so the order is total). */
  private batch(em: EntityManager, claims: ExportClaims, after: { occurredAt: Date; id: string } | undefined): Promise<StoredRow[]> {
    return em.execute<StoredRow[]>(
      `select "id", "occurred_at", "created_at", "type", "user_id", "subject_id", "subject_ids", "duration_ms", "status", "tokens", "payload"
       from "analytics_events" where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ?
         ${after ? 'and ("occurred_at", "id") > (?, ?)' : ''}
       order by "occurred_at", "id" limit ${EXPORT_BATCH}`,
      [claims.tenantId, new Date(claims.from), new Date(claims.to), ...(after ? [after.occurredAt, after.id] : [])],
    );
  }
}
