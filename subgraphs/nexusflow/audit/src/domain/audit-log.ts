import { badUserInput, requireRole, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import { AuditEntry } from '../entities/audit-entry.entity.ts';
import { AuditSettings } from '../entities/audit-settings.entity.ts';
import type { AuditTrail, TrailVerification } from './trail.ts';

export const AUDITOR_ROLES = [Role.Owner, Role.Admin] as const;
const MAX_PAGE = 100;
export const MAX_RETENTION_DAYS = 36_500;

export interface AuditEntryFilter {
  actor?: string | null;
  action?: string | null;
  resourceType?: string | null;
  resourceId?: string | null;
  from?: Date | null;
  to?: Date | null;
}

export interface AuditEntryPage {
  edges: { cursor: string; node: AuditEntry }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export type ComplianceReportKind = 'ADMIN_ACTIONS' | 'ROLE_CHANGES' | 'SENSITIVE_ACCESS';

export interface ComplianceReportRequest {
  tenantId: string;
  kind: ComplianceReportKind;
  from: Date;
  to: Date;
}

/**
 * Which entries each compliance report holds, as SQL over `audit_entries` (alias `e`). Admin actions: mutations by an
 * OWNER or ADMIN, and the events of administering a tenant (members, API keys, sign-in settings, the trail itself).
 */
export const REPORT_CONDITIONS: Record<ComplianceReportKind, string> = {
  ADMIN_ACTIONS: `((e."source" = 'MUTATION' and (e."details"->'roles' @> '["ADMIN"]'::jsonb or e."details"->'roles' @> '["OWNER"]'::jsonb))
    or (e."source" = 'EVENT' and split_part(e."action", '.', 1) in ('member', 'apikey', 'saml', 'identity', 'tenant', 'audit')))`,
  ROLE_CHANGES: `(split_part(e."action", '.', 1) = 'member'
    or (e."source" = 'MUTATION' and e."action" ~ '^mutation\\.(invite|remove|changeMember|updateMember|setMember|acceptInvitation|leave)'))`,
  SENSITIVE_ACCESS: `(e."source" = 'SENSITIVE_READ')`,
};

const decodeCursor = (cursor: string): number => {
  const sequence = Number(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw badUserInput('The cursor is not one this API returned', { field: 'after' });
  return sequence;
};
const encodeCursor = (entry: AuditEntry) => Buffer.from(String(entry.sequence)).toString('base64url');

/** Reading a tenant's trail and its settings: OWNERs and ADMINs only, of their own tenant only. */
export class AuditLog {
  constructor(private readonly trail: AuditTrail) {}

  async search(
    em: EntityManager,
    identity: Identity,
    filter: AuditEntryFilter,
    first: number,
    after: string | null,
  ): Promise<AuditEntryPage> {
    requireRole(identity, AUDITOR_ROLES);
    if (first < 0 || first > MAX_PAGE) throw badUserInput(`first must be between 0 and ${MAX_PAGE}`, { field: 'first' });
    const where = {
      ...(filter.actor ? { actorId: filter.actor } : {}),
      ...(filter.action ? { action: filter.action } : {}),
      ...(filter.resourceType ? { resourceType: filter.resourceType } : {}),
      ...(filter.resourceId ? { resourceId: filter.resourceId } : {}),
      ...(filter.from || filter.to
        ? { occurredAt: { ...(filter.from ? { $gte: filter.from } : {}), ...(filter.to ? { $lt: filter.to } : {}) } }
        : {}),
      ...(after ? { sequence: { $lt: decodeCursor(after) } } : {}),
    };
    const rows = first === 0 ? [] : await em.find(AuditEntry, where, { orderBy: { sequence: 'desc' }, limit: first + 1 });
    const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(node), node }));
    return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  verify(em: EntityManager, identity: Identity, from: Date | null, to: Date | null): Promise<TrailVerification> {
    const { tenantId } = requireRole(identity, AUDITOR_ROLES);
    return this.trail.verify(em, tenantId, from, to);
  }

  report(identity: Identity, kind: ComplianceReportKind, from: Date, to: Date): ComplianceReportRequest {
    const { tenantId } = requireRole(identity, AUDITOR_ROLES);
    if (from.getTime() >= to.getTime()) throw badUserInput('from must be before to', { field: 'from' });
    return { tenantId, kind, from, to };
  }

  async reportSize(em: EntityManager, report: ComplianceReportRequest): Promise<number> {
    const [row] = await em.execute<{ count: string }[]>(
      `select count(*) as "count" from "audit_entries" as e
       where e."tenant_id" = ? and e."occurred_at" >= ? and e."occurred_at" < ? and ${REPORT_CONDITIONS[report.kind]}`,
      [report.tenantId, report.from, report.to],
    );
    return Number(row?.count ?? 0);
  }

  /** The report's entries in order of sequence, after `afterSequence`, at most `limit`. */
  async reportEntries(em: EntityManager, report: ComplianceReportRequest, limit: number, afterSequence = 0, newestFirst = false) {
    const rows = await em.execute<Record<string, unknown>[]>(
      `select e.* from "audit_entries" as e
       where e."tenant_id" = ? and e."occurred_at" >= ? and e."occurred_at" < ? and ${REPORT_CONDITIONS[report.kind]}
         and e."sequence" > ?
       order by e."sequence" ${newestFirst ? 'desc' : 'asc'} limit ?`,
      [report.tenantId, report.from, report.to, afterSequence, limit],
    );
    return rows.map((row) => em.map(AuditEntry, row));
  }

  async settings(em: EntityManager, identity: Identity): Promise<AuditSettings> {
    const { tenantId } = requireRole(identity, AUDITOR_ROLES);
    return (await em.findOne(AuditSettings, { tenantId })) ?? em.create(AuditSettings, { tenantId }, { persist: false });
  }

  async setRetention(em: EntityManager, identity: Identity, days: number | null): Promise<AuditSettings> {
    const { tenantId } = requireRole(identity, AUDITOR_ROLES);
    if (days !== null && (!Number.isInteger(days) || days < 1 || days > MAX_RETENTION_DAYS))
      throw badUserInput(`days must be between 1 and ${MAX_RETENTION_DAYS}, or null to keep entries forever`, { field: 'days' });
    const settings = await this.settingsRow(em, tenantId);
    settings.retentionDays = days;
    await em.flush();
    return settings;
  }

  async placeLegalHold(em: EntityManager, identity: Identity, reason: string): Promise<AuditSettings> {
    const { tenantId, userId } = requireRole(identity, AUDITOR_ROLES);
    const trimmed = reason.trim();
    if (trimmed.length < 1 || trimmed.length > 1000) throw badUserInput('reason must be 1 to 1000 characters', { field: 'reason' });
    const settings = await this.settingsRow(em, tenantId);
    Object.assign(settings, {
      legalHoldReason: trimmed,
      legalHoldPlacedBy: userId,
      legalHoldPlacedAt: settings.legalHoldPlacedAt ?? new Date(),
    });
    await em.flush();
    return settings;
  }

  async releaseLegalHold(em: EntityManager, identity: Identity): Promise<AuditSettings> {
    const { tenantId } = requireRole(identity, AUDITOR_ROLES);
    const settings = await this.settingsRow(em, tenantId);
    Object.assign(settings, { legalHoldReason: null, legalHoldPlacedBy: null, legalHoldPlacedAt: null });
    await em.flush();
    return settings;
  }

  private async settingsRow(em: EntityManager, tenantId: string): Promise<AuditSettings> {
    return (await em.findOne(AuditSettings, { tenantId })) ?? em.create(AuditSettings, { tenantId });
  }
}
