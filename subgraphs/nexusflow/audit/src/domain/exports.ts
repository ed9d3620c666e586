import {
  csvCell,
  ErrorCode,
  HttpError,
  sendHttpError,
  SignedLinks,
  systemFork,
  writeChunk,
  type Database,
  type Logger,
  type RouteHandler,
} from '@nexusflow/kit';
import type { AuditEntry } from '../entities/audit-entry.entity.ts';
import type { AuditLog, ComplianceReportKind, ComplianceReportRequest } from './audit-log.ts';

export const EXPORT_PATH = '/exports/audit';
const EXPORT_BATCH = 1000;

export type ExportFormat = 'csv' | 'jsonl';

interface ExportClaims {
  tenantId: string;
  kind: ComplianceReportKind;
  from: string;
  to: string;
  format: ExportFormat;
}

const KINDS = new Set<string>(['ADMIN_ACTIONS', 'ROLE_CHANGES', 'SENSITIVE_ACCESS']);

const isExportClaims = (claims: unknown): claims is ExportClaims => {
  const { tenantId, kind, from, to, format } = (claims ?? {}) as Partial<ExportClaims>;
  return (
    typeof tenantId === 'string' &&
    typeof kind === 'string' &&
    KINDS.has(kind) &&
    typeof from === 'string' &&
    typeof to === 'string' &&
    (format === 'csv' || format === 'jsonl')
  );
};

/** Links to a report's export, signed by the kit's {@link SignedLinks} (the route is not behind the gateway). */
export class ExportLinks {
  private readonly links: SignedLinks<ExportClaims>;

  constructor(
    private readonly baseUrl: string,
    secret: string,
    now: () => number,
  ) {
    this.links = new SignedLinks<ExportClaims>('audit-export', secret, now);
  }

  linkTo(report: ComplianceReportRequest, format: ExportFormat): string {
    return this.links.linkTo(`${this.baseUrl.replace(/\/$/, '')}${EXPORT_PATH}`, {
      tenantId: report.tenantId,
      kind: report.kind,
      from: report.from.toISOString(),
      to: report.to.toISOString(),
      format,
    });
  }

  /** The claims of a link's token, or undefined when it is forged, malformed or expired. */
  read(token: string): ExportClaims | undefined {
    return this.links.read(token, isExportClaims);
  }
}

const CSV_COLUMNS = [
  'sequence',
  'id',
  'occurredAt',
  'recordedAt',
  'source',
  'actorKind',
  'actorId',
  'action',
  'resourceType',
  'resourceId',
  'outcome',
  'ipAddress',
  'userAgent',
  'details',
  'prevHash',
  'hash',
] as const;

function exported(entry: AuditEntry): Record<(typeof CSV_COLUMNS)[number], unknown> {
  return {
    sequence: entry.sequence,
    id: entry.id,
    occurredAt: entry.occurredAt.toISOString(),
    recordedAt: entry.createdAt.toISOString(),
    source: entry.source,
    actorKind: entry.actorKind,
    actorId: entry.actorId,
    action: entry.action,
    resourceType: entry.resourceType,
    resourceId: entry.resourceId,
    outcome: entry.outcome,
    ipAddress: entry.ipAddress,
    userAgent: entry.userAgent,
    details: entry.details,
    prevHash: entry.prevHash,
    hash: entry.hash,
  };
}

/** GET /exports/audit?token=…: streams a report's entries in batches, so that an export of any size takes little memory. */
export function exportRoute(links: ExportLinks, log: AuditLog, database: Database, logger: Logger): RouteHandler {
  return async (req, res, url) => {
    if (url.pathname !== EXPORT_PATH) return false;
    if (req.method !== 'GET') {
      sendHttpError(res, new HttpError(405, ErrorCode.BadUserInput, 'Use GET', { allow: 'GET' }));
      return true;
    }
    const claims = links.read(url.searchParams.get('token') ?? '');
    if (!claims) {
      sendHttpError(res, new HttpError(403, ErrorCode.Forbidden, 'The export link is invalid or has expired'));
      return true;
    }
    const report: ComplianceReportRequest = {
      tenantId: claims.tenantId,
      kind: claims.kind,
      from: new Date(claims.from),
      to: new Date(claims.to),
    };
    const name = `audit-${claims.kind.toLowerCase().replaceAll('_', '-')}-${claims.from.slice(0, 10)}-${claims.to.slice(0, 10)}`;
    res.writeHead(200, {
      'content-type': claims.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="${name}.${claims.format}"`,
      'cache-control': 'no-store',
    });
    try {
      if (claims.format === 'csv') await writeChunk(res, `${CSV_COLUMNS.join(',')}\r\n`);
      let after = 0;
      for (;;) {
        const batch = await log.reportEntries(systemFork(database), report, EXPORT_BATCH, after);
        for (const entry of batch) {
          const row = exported(entry);
          await writeChunk(
            res,
            claims.format === 'csv' ? `${CSV_COLUMNS.map((column) => csvCell(row[column])).join(',')}\r\n` : `${JSON.stringify(row)}\n`,
          );
        }
        if (batch.length < EXPORT_BATCH) break;
        after = batch.at(-1)!.sequence;
      }
      res.end();
    } catch (error) {
      // The status is sent already: cutting the connection is how a client learns the download is incomplete.
      logger.warn({ err: error }, 'an audit export failed halfway; its connection was cut');
      res.destroy(error as Error);
    }
    return true;
  };
}
