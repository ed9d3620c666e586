import {
  checkRecurrence,
  nextOccurrence,
  csvCell,
  ErrorCode,
  HttpError,
  isUuid,
  requireRole,
  Role,
  sendHttpError,
  SignedLinks,
  systemFork,
  utcDay,
  writeChunk,
  type Database,
  type EntityManager,
  type Identity,
  type Logger,
  type RouteHandler,
} from '@nexusflow/kit';
import { Report, type ReportFormat, type ReportKind, type ReportPeriod } from '../entities/report.entity.ts';
import type { Cohort, CohortQueries } from './cohorts.ts';
import { ANALYST_ROLES, type BucketValue, type DashboardMetric, type UsageMetrics, type UsageQueries } from './metrics.ts';
import type { Bucket, Period } from './periods.ts';

export const REPORT_PATH = '/reports/analytics';
const MAX_NAME_LENGTH = 200;
const MAX_RECIPIENTS = 20;
const MAX_REPORTS_LISTED = 100;
const DAY_MS = 86_400_000;
/** How long the download link of an emailed report works: a week, since emails are read later than pages. */
export const EMAILED_LINK_TTL_MS = 7 * DAY_MS;
const NO_USER = '00000000-0000-0000-0000-000000000000';

/** An expected failure of a report mutation, answered as data (`InvalidAnalyticsInput`, `ReportNotFound`). */
export interface InvalidInput {
  kind: 'invalid';
  message: string;
  field: string;
}
export interface ReportNotFound {
  kind: 'notFound';
  message: string;
  id: string;
}
export type ReportProblem = InvalidInput | ReportNotFound;

export const invalid = (field: string, message: string): InvalidInput => ({ kind: 'invalid', field, message });
const notFound = (id: string): ReportNotFound => ({ kind: 'notFound', id, message: `No report with id ${id}` });

export interface ScheduleInput {
  cron: string;
  timeZone: string;
  recipientUserIds: string[];
}

export interface ReportInput {
  name?: string | null;
  kind?: ReportKind | null;
  period?: ReportPeriod | null;
  metric?: DashboardMetric | null;
  bucket?: Bucket | null;
  format?: ReportFormat | null;
  schedule?: ScheduleInput | null;
  removeSchedule?: boolean | null;
}

/** What a report shows and how it is downloaded: all a download link needs to render it again. */
interface ReportDefinition {
  name: string;
  kind: ReportKind;
  metric: DashboardMetric | null;
  bucket: Bucket | null;
  format: ReportFormat;
}

interface ReportClaims extends ReportDefinition {
  tenantId: string;
  from: string;
  to: string;
}

const isReportClaims = (claims: unknown): claims is ReportClaims => {
  const { tenantId, name, kind, format, from, to } = (claims ?? {}) as Partial<ReportClaims>;
  return [tenantId, name, kind, format, from, to].every((value) => typeof value === 'string');
};

/** A report run over one period: the result of its kind, and a link to download it. */
export interface ReportRunResult extends Period {
  report: Report;
  usageMetrics: UsageMetrics | null;
  dashboard: BucketValue[] | null;
  cohorts: Cohort[] | null;
  downloadUrl: string;
}

/** The period a report covers when it runs at `at`; MONTH_TO_DATE at midnight of the first covers the month before. */
export function periodAt(period: ReportPeriod, at: Date): Period {
  if (period === 'LAST_7_DAYS') return { from: new Date(at.getTime() - 7 * DAY_MS), to: at };
  if (period === 'LAST_30_DAYS') return { from: new Date(at.getTime() - 30 * DAY_MS), to: at };
  const justBefore = new Date(at.getTime() - 1);
  return { from: utcDay(justBefore.getUTCFullYear(), justBefore.getUTCMonth(), 1), to: at };
}

/** The first time a schedule fires strictly after `after`, its cron expression read in its time zone. */
export function nextRunOf(cron: string, timeZone: string, after: Date): Date {
  return nextOccurrence({ kind: 'cron', expression: cron, timezone: timeZone }, after);
}

function scheduleProblem(schedule: ScheduleInput): InvalidInput | undefined {
  const recurrence = checkRecurrence({ kind: 'cron', expression: schedule.cron, timezone: schedule.timeZone });
  if (!recurrence.ok) return invalid(`schedule.${recurrence.field === 'timezone' ? 'timeZone' : 'cron'}`, recurrence.problem);
  const recipients = new Set(schedule.recipientUserIds);
  if (recipients.size < 1 || recipients.size > MAX_RECIPIENTS)
    return invalid('schedule.recipientUserIds', `A schedule has 1 to ${MAX_RECIPIENTS} recipients`);
  if ([...recipients].some((userId) => !isUuid(userId)))
    return invalid('schedule.recipientUserIds', 'Recipients are members of the tenant, by user id');
  return undefined;
}

function definitionProblem(definition: Omit<ReportDefinition, 'format'>): InvalidInput | undefined {
  const name = definition.name.trim();
  if (name === '' || name.length > MAX_NAME_LENGTH) return invalid('name', `A name has 1 to ${MAX_NAME_LENGTH} characters`);
  const isDashboard = definition.kind === 'DASHBOARD';
  if (isDashboard && (definition.metric === null || definition.bucket === null))
    return invalid(definition.metric === null ? 'metric' : 'bucket', 'A DASHBOARD report needs a metric and a bucket');
  if (!isDashboard && (definition.metric !== null || definition.bucket !== null))
    return invalid(definition.metric !== null ? 'metric' : 'bucket', `A ${definition.kind} report has no metric or bucket`);
  return undefined;
}

const formatOf = (format: ReportFormat) => (format === 'CSV' ? 'csv' : 'jsonl');

/** A report's result as rows of named columns: what its download holds, and the table of its email. */
export function rowsOf(result: Pick<ReportRunResult, 'usageMetrics' | 'dashboard' | 'cohorts'>): Record<string, unknown>[] {
  if (result.dashboard) return result.dashboard.map(({ start, value }) => ({ start: start.toISOString(), value }));
  if (result.cohorts)
    return result.cohorts.map(({ week, size, activeByWeek, retentionByWeek }) => ({
      week: week.toISOString(),
      size,
      activeByWeek,
      retentionByWeek: retentionByWeek.map((value) => Math.round(value * 1000) / 1000),
    }));
  const usage = result.usageMetrics!;
  const executions = (status: string) =>
    usage.executionsByDay.filter((day) => day.status === status).reduce((sum, day) => sum + day.count, 0);
  return [
    { measure: 'Active users (distinct, per month)', value: Math.max(0, ...usage.activeUsers.monthly.map(({ value }) => value)) },
    { measure: 'Executions completed', value: executions('COMPLETED') },
    { measure: 'Executions failed', value: executions('FAILED') },
    { measure: 'Executions cancelled', value: executions('CANCELLED') },
    { measure: 'Execution duration p50 (ms)', value: usage.executionDurations.p50Ms },
    { measure: 'Execution duration p95 (ms)', value: usage.executionDurations.p95Ms },
    { measure: 'AI tokens', value: usage.aiTokens },
    { measure: 'Integration syncs completed', value: usage.integrationSyncs.completed },
    { measure: 'Integration syncs failed', value: usage.integrationSyncs.failed },
  ];
}

/** The rows as a plain-text table of aligned columns, for an email. */
export function textTable(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(nothing in this period)';
  const columns = Object.keys(rows[0]!);
  const cell = (value: unknown) =>
    value === null || value === undefined ? '–' : typeof value === 'string' ? value : JSON.stringify(value);
  const cells = [columns, ...rows.map((row) => columns.map((column) => cell(row[column])))];
  const widths = columns.map((_, index) => Math.max(...cells.map((line) => line[index]!.length)));
  return cells
    .map((line) =>
      line
        .map((value, index) => value.padEnd(widths[index]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Saved reports of a tenant: their definitions and schedules, running one over its period, and the route that
 * downloads a run's result from a signed link (in the API's answer for 15 minutes, in an email for a week).
 */
export class ReportService {
  private readonly links: SignedLinks<ReportClaims>;
  private readonly emailedLinks: SignedLinks<ReportClaims>;

  constructor(
    private readonly baseUrl: string,
    secret: string,
    private readonly now: () => number,
    private readonly usage: UsageQueries,
    private readonly cohortQueries: CohortQueries,
  ) {
    this.links = new SignedLinks<ReportClaims>('analytics-report', secret, now);
    this.emailedLinks = new SignedLinks<ReportClaims>('analytics-report', secret, now, EMAILED_LINK_TTL_MS);
  }

  list(em: EntityManager, identity: Identity): Promise<Report[]> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    return em.find(Report, { tenantId }, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: MAX_REPORTS_LISTED });
  }

  async get(em: EntityManager, identity: Identity, id: string): Promise<Report | null> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    return isUuid(id) ? em.findOne(Report, { id, tenantId }) : null;
  }

  async create(em: EntityManager, identity: Identity, input: ReportInput): Promise<Report | InvalidInput> {
    const { tenantId, userId } = requireRole(identity, ANALYST_ROLES);
    const definition = {
      name: (input.name ?? '').trim(),
      kind: input.kind!,
      period: input.period!,
      metric: input.metric ?? null,
      bucket: input.bucket ?? null,
      format: input.format ?? 'CSV',
    };
    const problem = definitionProblem(definition) ?? (input.schedule ? scheduleProblem(input.schedule) : undefined);
    if (problem) return problem;
    const report = em.create(Report, {
      tenantId,
      createdBy: userId,
      ...definition,
      scheduleCron: null,
      scheduleTimeZone: null,
      recipientUserIds: [],
      nextRunAt: null,
      lastRunAt: null,
    });
    if (input.schedule) this.applySchedule(report, input.schedule);
    await em.flush();
    return report;
  }

  async update(em: EntityManager, identity: Identity, id: string, input: ReportInput): Promise<Report | ReportProblem> {
    const report = await this.get(em, identity, id);
    if (!report) return notFound(id);
    if (input.schedule && input.removeSchedule) return invalid('removeSchedule', 'Give a new schedule or remove it, not both');
    const kind = input.kind ?? report.kind;
    // A report that changes kind drops the metric and bucket it no longer has, unless new ones are given.
    const keepsDashboard = kind === 'DASHBOARD';
    const definition = {
      name: (input.name ?? report.name).trim(),
      kind,
      metric: input.metric ?? (keepsDashboard ? (report.metric as DashboardMetric | null) : null),
      bucket: input.bucket ?? (keepsDashboard ? (report.bucket as Bucket | null) : null),
    };
    const problem = definitionProblem(definition) ?? (input.schedule ? scheduleProblem(input.schedule) : undefined);
    if (problem) return problem;
    Object.assign(report, definition, { period: input.period ?? report.period, format: input.format ?? report.format });
    if (input.schedule) this.applySchedule(report, input.schedule);
    if (input.removeSchedule) {
      Object.assign(report, { scheduleCron: null, scheduleTimeZone: null, recipientUserIds: [], nextRunAt: null });
    }
    await em.flush();
    return report;
  }

  async delete(em: EntityManager, identity: Identity, id: string): Promise<{ id: string } | ReportNotFound> {
    const report = await this.get(em, identity, id);
    if (!report) return notFound(id);
    await em.remove(report).flush();
    return { id };
  }

  /** Runs a report of the caller's tenant over its period ending now. */
  async runNow(em: EntityManager, identity: Identity, id: string): Promise<ReportRunResult | ReportNotFound> {
    const report = await this.get(em, identity, id);
    if (!report) return notFound(id);
    return this.run(em, identity, report, new Date(this.now()), this.links);
  }

  /** Runs a report as of `at` for its schedule's email, as an analyst of its tenant; its link works for a week. */
  runScheduled(database: Database, report: Report, at: Date): Promise<ReportRunResult> {
    const analyst: Identity = { kind: 'user', userId: report.createdBy, tenantId: report.tenantId, roles: [Role.Admin] };
    return this.run(systemFork(database), analyst, report, at, this.emailedLinks);
  }

  private async run(
    em: EntityManager,
    identity: Identity,
    report: Report,
    at: Date,
    links: SignedLinks<ReportClaims>,
  ): Promise<ReportRunResult> {
    const { from, to } = periodAt(report.period, at);
    const definition = this.definitionOf(report);
    const [usageMetrics, dashboard, cohorts] = await Promise.all([
      report.kind === 'USAGE_METRICS' ? this.usage.usage(em, identity, from, to) : null,
      report.kind === 'DASHBOARD' ? this.usage.dashboard(em, identity, definition.metric!, definition.bucket!, from, to) : null,
      report.kind === 'COHORTS' ? this.cohortQueries.cohorts(em, identity, from, to) : null,
    ]);
    const url = `${this.baseUrl.replace(/\/$/, '')}${REPORT_PATH}`;
    const downloadUrl = links.linkTo(url, { ...definition, tenantId: report.tenantId, from: from.toISOString(), to: to.toISOString() });
    return { report, from, to, usageMetrics, dashboard, cohorts, downloadUrl };
  }

  private definitionOf(report: Report): ReportDefinition {
    return {
      name: report.name,
      kind: report.kind,
      metric: report.metric as DashboardMetric | null,
      bucket: report.bucket as Bucket | null,
      format: report.format,
    };
  }

  private applySchedule(report: Report, schedule: ScheduleInput): void {
    Object.assign(report, {
      scheduleCron: schedule.cron.trim(),
      scheduleTimeZone: schedule.timeZone,
      recipientUserIds: [...new Set(schedule.recipientUserIds)],
      nextRunAt: nextRunOf(schedule.cron, schedule.timeZone, new Date(this.now())),
    });
  }

  /** GET /reports/analytics?token=…: the link's report over the link's period, computed again, in its format. */
  route(database: Database, logger: Logger): RouteHandler {
    return async (req, res, url) => {
      if (url.pathname !== REPORT_PATH) return false;
      if (req.method !== 'GET') {
        sendHttpError(res, new HttpError(405, ErrorCode.BadUserInput, 'Use GET', { allow: 'GET' }));
        return true;
      }
      const claims = this.links.read(url.searchParams.get('token') ?? '', isReportClaims);
      if (!claims) {
        sendHttpError(res, new HttpError(403, ErrorCode.Forbidden, 'The report link is invalid or has expired'));
        return true;
      }
      // The signed link is the authority: an analyst of its tenant, naming no user, computes what it links to.
      const analyst: Identity = { kind: 'user', userId: NO_USER, tenantId: claims.tenantId, roles: [Role.Admin] };
      const em = systemFork(database);
      const [from, to] = [new Date(claims.from), new Date(claims.to)];
      let rows: Record<string, unknown>[];
      try {
        rows = rowsOf({
          usageMetrics: claims.kind === 'USAGE_METRICS' ? await this.usage.usage(em, analyst, from, to) : null,
          dashboard: claims.kind === 'DASHBOARD' ? await this.usage.dashboard(em, analyst, claims.metric!, claims.bucket!, from, to) : null,
          cohorts: claims.kind === 'COHORTS' ? await this.cohortQueries.cohorts(em, analyst, from, to) : null,
        });
      } catch (error) {
        logger.warn({ err: error }, 'a report download failed');
        sendHttpError(res, new HttpError(500, ErrorCode.InternalServerError, 'The report could not be computed'));
        return true;
      }
      const format = formatOf(claims.format);
      const name = claims.name.replace(/[^\w.-]+/g, '-').slice(0, 80) || 'report';
      res.writeHead(200, {
        'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        'content-disposition': `attachment; filename="${name}-${claims.from.slice(0, 10)}-${claims.to.slice(0, 10)}.${format}"`,
        'cache-control': 'no-store',
      });
      const columns = Object.keys(rows[0] ?? {});
      if (format === 'csv' && columns.length > 0) await writeChunk(res, `${columns.join(',')}\r\n`);
      for (const row of rows) {
        await writeChunk(
          res,
          format === 'csv' ? `${columns.map((column) => csvCell(row[column])).join(',')}\r\n` : `${JSON.stringify(row)}\n`,
        );
      }
      res.end();
      return true;
    };
  }
}
