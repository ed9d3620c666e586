import {
  csvCell,
  ErrorCode,
  HttpError,
  requireRole,
  sendHttpError,
  SignedLinks,
  writeChunk,
  type Database,
  type EntityManager,
  type Identity,
  type Logger,
  type RouteHandler,
} from '@nexusflow/kit';
import { EXPORT_BATCH, type EventStore, type ExportCursor, type StoredEvent } from './event-store.ts';
import { ANALYST_ROLES } from './metrics.ts';
import { checkedPeriod, type Period } from './periods.ts';

export const EXPORT_PATH = '/exports/analytics';

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

function exported(event: StoredEvent): Record<(typeof COLUMNS)[number], unknown> {
  return {
    id: event.id,
    occurredAt: event.occurredAt.toISOString(),
    recordedAt: event.createdAt.toISOString(),
    type: event.type,
    userId: event.userId,
    subjectId: event.subjectId,
    subjectIds: event.subjectIds,
    durationMs: event.durationMs,
    status: event.status,
    tokens: event.tokens,
    payload: event.payload,
  };
}

/** The header of an export in `format`: the column names of CSV, nothing for JSON lines. */
export const exportHeader = (format: ExportFormat): string => (format === 'csv' ? `${COLUMNS.join(',')}\r\n` : '');

/** One exported row as a line of `format`, its line break included. */
export const exportLine = (row: Record<(typeof COLUMNS)[number], unknown>, format: ExportFormat): string =>
  format === 'csv' ? `${COLUMNS.map((column) => csvCell(row[column])).join(',')}\r\n` : `${JSON.stringify(row)}\n`;

/**
 * Exports of a tenant's events: links signed by the kit's {@link SignedLinks} (the route is not behind the gateway),
 * and the route that streams them in batches, so that an export of any size takes little memory.
 */
export class EventExports {
  private readonly links: SignedLinks<ExportClaims>;

  constructor(
    private readonly store: EventStore,
    private readonly baseUrl: string,
    secret: string,
    now: () => number,
  ) {
    this.links = new SignedLinks<ExportClaims>('analytics-export', secret, now);
  }

  async describe(em: EntityManager, identity: Identity, from: Date, to: Date): Promise<AnalyticsExport> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(from, to);
    const totalEvents = await this.store.count({ em, tenantId, ...period });
    const url = `${this.baseUrl.replace(/\/$/, '')}${EXPORT_PATH}`;
    const claims = { tenantId, from: period.from.toISOString(), to: period.to.toISOString() };
    return {
      ...period,
      totalEvents,
      csvUrl: this.links.linkTo(url, { ...claims, format: 'csv' }),
      jsonLinesUrl: this.links.linkTo(url, { ...claims, format: 'jsonl' }),
    };
  }

  /** GET /exports/analytics?token=…: the events of the link's tenant and period, oldest first. */
  route(logger: Logger): RouteHandler {
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
        const query = { tenantId: claims.tenantId, from: new Date(claims.from), to: new Date(claims.to) };
        let after: ExportCursor | undefined;
        for (;;) {
          const batch = await this.store.exportBatch(query, after);
          for (const stored of batch) {
            const row = exported(stored);
            await writeChunk(
              res,
              claims.format === 'csv' ? `${COLUMNS.map((column) => csvCell(row[column])).join(',')}\r\n` : `${JSON.stringify(row)}\n`,
            );
          }
          if (batch.length < EXPORT_BATCH) break;
          const { occurredAt, id } = batch.at(-1)!;
          after = { occurredAt, id };
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

  /**
   * A tenant's events of a period as exported rows, oldest first, read in batches of {@link EXPORT_BATCH}, so that an
   * export of any size holds one batch at a time.
   *
   * @param _database unused since the events moved behind the event store (which has its own connection); kept so
   *   that callers need not change
   */
  async *rowsOf(_database: Database, tenantId: string, period: Period): AsyncGenerator<Record<(typeof COLUMNS)[number], unknown>[]> {
    let after: ExportCursor | undefined;
    for (;;) {
      const batch = await this.store.exportBatch({ tenantId, ...period }, after);
      if (batch.length > 0) yield batch.map(exported);
      if (batch.length < EXPORT_BATCH) return;
      const { occurredAt, id } = batch.at(-1)!;
      after = { occurredAt, id };
    }
  }
}
