import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { ErrorCode, HttpError, sendHttpError, systemFork, type Database, type Logger, type RouteHandler } from '@nexusflow/kit';
import type { AuditEntry } from '../entities/audit-entry.entity.ts';
import type { AuditLog, ComplianceReportKind, ComplianceReportRequest } from './audit-log.ts';

export const EXPORT_PATH = '/exports/audit';
/** How long an export link works: long enough to click it, short enough that a leaked one soon stops working. */
export const EXPORT_LINK_TTL_MS = 15 * 60_000;
const EXPORT_BATCH = 1000;

export type ExportFormat = 'csv' | 'jsonl';

interface ExportClaims {
  tenantId: string;
  kind: ComplianceReportKind;
  from: string;
  to: string;
  format: ExportFormat;
  expiresAt: number;
}

const KINDS = new Set<string>(['ADMIN_ACTIONS', 'ROLE_CHANGES', 'SENSITIVE_ACCESS']);

/**
 * Links to a report's export: the route is not behind the gateway (a download is no GraphQL), so the link carries
 * what it exports and when it expires, signed with the internal secret, and nothing else authenticates it.
 */
export class ExportLinks {
  constructor(
    private readonly baseUrl: string,
    private readonly secret: string,
    private readonly now: () => number,
  ) {}

  linkTo(report: ComplianceReportRequest, format: ExportFormat): string {
    const claims: ExportClaims = {
      tenantId: report.tenantId,
      kind: report.kind,
      from: report.from.toISOString(),
      to: report.to.toISOString(),
      format,
      expiresAt: this.now() + EXPORT_LINK_TTL_MS,
    };
    const value = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${this.baseUrl.replace(/\/$/, '')}${EXPORT_PATH}?token=${value}.${this.sign(value)}`;
  }

  /** The claims of a link's token, or undefined when it is forged, malformed or expired. */
  read(token: string): ExportClaims | undefined {
    const [value, signature, ...rest] = token.split('.');
    if (!value || !signature || rest.length > 0) return undefined;
    const expected = Buffer.from(this.sign(value));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    try {
      const claims = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as ExportClaims;
      if (!KINDS.has(claims.kind) || (claims.format !== 'csv' && claims.format !== 'jsonl')) return undefined;
      return claims.expiresAt > this.now() ? claims : undefined;
    } catch {
      return undefined;
    }
  }

  private sign(value: string): string {
    return createHmac('sha256', this.secret).update(`audit-export:${value}`).digest('base64url');
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

/** RFC 4180 quoting; a leading = + - @ is prefixed with ' so that a spreadsheet never runs a cell as a formula. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

async function write(res: ServerResponse, chunk: string): Promise<void> {
  if (!res.write(chunk)) await once(res, 'drain');
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
      if (claims.format === 'csv') await write(res, `${CSV_COLUMNS.join(',')}\r\n`);
      let after = 0;
      for (;;) {
        const batch = await log.reportEntries(systemFork(database), report, EXPORT_BATCH, after);
        for (const entry of batch) {
          const row = exported(entry);
          await write(
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
