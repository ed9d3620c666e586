import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, secretOrDevelopmentDefault, signAccessToken, systemFork, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes, TcpProxy } from '@nexusflow/kit/testing';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import type { AnalyticsServices } from '../../subgraphs/nexusflow/analytics/src/context.ts';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { FakeSendGrid } from '../support/fake-providers.ts';
import { definitionOf, routesFor, startServices, TestServices } from '../support/services.ts';

const REPORT_FIELDS = `id name kind period metric bucket format createdBy
  schedule { cron timeZone recipientUserIds nextRunAt lastRunAt }`;
const CREATE_REPORT = `mutation ($input: CreateReportInput!) {
  createReport(input: $input) {
    __typename
    ... on Report { ${REPORT_FIELDS} }
    ... on InvalidAnalyticsInput { message field }
  }
}`;
const UPDATE_REPORT = `mutation ($id: ID!, $input: UpdateReportInput!) {
  updateReport(id: $id, input: $input) {
    __typename
    ... on Report { ${REPORT_FIELDS} }
    ... on ReportNotFound { id }
    ... on InvalidAnalyticsInput { message field }
  }
}`;
const DELETE_REPORT = `mutation ($id: ID!) {
  deleteReport(id: $id) { __typename ... on DeleteReportPayload { id } ... on ReportNotFound { id message } }
}`;
const REPORTS = `query { reports { id name } }`;
const REPORT = `query ($id: ID!) { report(id: $id) { ${REPORT_FIELDS} } }`;
const RUN_REPORT = `query ($id: ID!) {
  runReport(id: $id) {
    __typename
    ... on ReportRun {
      report { id } from to downloadUrl
      dashboard { start value }
      usageMetrics { aiTokens executionDurations { count } }
      cohorts { size }
    }
    ... on ReportNotFound { id }
  }
}`;
const START_EXPORT = `mutation ($from: DateTime!, $to: DateTime!, $format: ExportFormat!) {
  startAnalyticsExport(from: $from, to: $to, format: $format) {
    __typename
    ... on AnalyticsExportJob { id status format }
    ... on InvalidAnalyticsInput { message field }
  }
}`;
const EXPORT_JOB_FIELDS = 'id from to format status rows bytes error finishedAt expiresAt downloadUrl';
const EXPORT_JOB = `query ($id: ID!) { analyticsExportJob(id: $id) { ${EXPORT_JOB_FIELDS} } }`;
const EXPORT_JOBS = `query ($first: Int) { analyticsExportJobs(first: $first) { id status } }`;
const SET_CONTACT_POINTS = `mutation ($input: ContactPointsInput!) { setContactPoints(input: $input) { email } }`;

const HOUR = 3_600_000;

/** Saved and scheduled reports and background exports of analytics, through the gateway, with auth and notifications. */
describe.each(storageModes(['postgres', 'amqp']))('analytics reports and exports on $storage', ({ mode }) => {
  const sendgrid = new FakeSendGrid({ apiKey: 'SG.reports' });
  let services: TestServices;
  let analytics: RunningSubgraph<AnalyticsServices>;
  let gateway: RunningGateway;
  let owner: SignedUp & { tenantId: string };

  const tokenOf = async (caller: { userId: string; tenantId: string; roles: Role[] }) =>
    (await signAccessToken(caller, secretOrDevelopmentDefault(undefined), 900)).token;

  async function send<T = Record<string, any>>(token: string, query: string, variables?: Record<string, unknown>) {
    return postGraphQL<T>(gateway.graphqlUrl, query, { token, variables });
  }

  async function data<T = Record<string, any>>(token: string, query: string, variables?: Record<string, unknown>): Promise<T> {
    const response = await send<T>(token, query, variables);
    expect(response.errors).toBeUndefined();
    return response.data!;
  }

  /** A member of the owner's tenant, or of a tenant of its own, with a token the gateway accepts. */
  const someone = async (roles: Role[], tenantId = owner.tenantId) => tokenOf({ userId: randomUUID(), tenantId, roles });

  const sql = <T = Record<string, unknown>[]>(query: string, params: unknown[] = []) =>
    systemFork(analytics.database).execute(query, params) as Promise<T>;

  /** Publishes an ended execution at each time on the bus, and waits until analytics stored them all. */
  async function publishAndWait(tenantId: string, occurredAts: Date[]): Promise<void> {
    const ids = occurredAts.map(() => randomUUID());
    for (const [index, occurredAt] of occurredAts.entries()) {
      await analytics.eventBus.publish({
        id: ids[index]!,
        type: 'workflow.execution.completed',
        tenantId,
        occurredAt: occurredAt.toISOString(),
        payload: { executionId: randomUUID(), status: 'COMPLETED', durationMs: 1200 },
      });
    }
    const stored = async () =>
      (
        await sql<{ id: string }[]>(
          `select "id" from "analytics_events" where "tenant_id" = ? and "id" in (${ids.map(() => '?').join(', ')})`,
          [tenantId, ...ids],
        )
      ).length;
    await expect.poll(stored, { timeout: 20_000, interval: 50 }).toBe(ids.length);
  }

  /** The links name the service's public origin (ANALYTICS_EXPORT_BASE_URL); here it listens on a port of its own. */
  const download = (link: string) => fetch(`${analytics.url}${new URL(link).pathname}${new URL(link).search}`);

  const reportEmails = () => sendgrid.accepted.filter((email) => email.subject.startsWith('Report "'));

  beforeAll(async () => {
    await sendgrid.start();
    services = await TestServices.create(mode, `analytics_reports_${mode}`);
    services.onClose(() => sendgrid.close());
    // Auth and notifications call each other: auth's calls go through a proxy that points at notifications once it runs.
    const notificationsForAuth = await TcpProxy.start();
    services.onClose(() => notificationsForAuth.close());
    const running: Record<string, RunningSubgraph<unknown>> = {};
    running.auth = await services.start(await definitionOf('nexusflow', 'auth'), {
      ...(await services.environmentFor('auth')),
      NOTIFICATIONS_URL: `http://127.0.0.1:${notificationsForAuth.port}/graphql`,
    });
    await startServices(services, 'nexusflow', ['notifications', 'analytics'], running, {
      notifications: { SENDGRID_API_URL: sendgrid.url, SENDGRID_API_KEY: 'SG.reports', DELIVERY_BACKOFF_MS: '20' },
      // The test drives the scheduling pass itself, at the times it chooses.
      analytics: { ANALYTICS_SCHEDULE_INTERVAL_MS: '0', ANALYTICS_PARTITION_INTERVAL_MS: '0' },
    });
    notificationsForAuth.pointAt(running.notifications!.graphqlUrl);
    analytics = running.analytics as RunningSubgraph<AnalyticsServices>;
    gateway = await services.startGateway('nexusflow', routesFor('nexusflow', running));
    const signedUp = await signUp(gateway.graphqlUrl, 'reports');
    const me = await postGraphQL<{ me: { tenant: { id: string } } }>(gateway.graphqlUrl, 'query { me { tenant { id } } }', {
      token: signedUp.token,
    });
    owner = { ...signedUp, tenantId: me.data!.me.tenant.id };
    await data(owner.token, SET_CONTACT_POINTS, { input: { email: owner.email } });
  });

  afterAll(async () => {
    await services?.close();
  });

  it('saves a report, lists, changes and runs it over its period, downloads its result and deletes it', async () => {
    const now = Date.now();
    await publishAndWait(owner.tenantId, [new Date(now - 2 * HOUR), new Date(now - HOUR), new Date(now - 10 * 86_400_000)]);

    const { createReport: created } = await data(owner.token, CREATE_REPORT, {
      input: { name: 'Daily events', kind: 'DASHBOARD', period: 'LAST_7_DAYS', metric: 'EXECUTIONS', bucket: 'DAY' },
    });
    expect(created).toMatchObject({
      __typename: 'Report',
      name: 'Daily events',
      kind: 'DASHBOARD',
      metric: 'EXECUTIONS',
      bucket: 'DAY',
      format: 'CSV',
      createdBy: owner.userId,
      schedule: null,
    });
    expect((await data(owner.token, REPORTS)).reports).toContainEqual({ id: created.id, name: 'Daily events' });
    const { __typename: _createdType, ...saved } = created;
    expect((await data(owner.token, REPORT, { id: created.id })).report).toEqual(saved);

    const { runReport: run } = await data(owner.token, RUN_REPORT, { id: created.id });
    expect(run).toMatchObject({ __typename: 'ReportRun', report: { id: created.id }, usageMetrics: null, cohorts: null });
    expect(new Date(run.to).getTime() - new Date(run.from).getTime()).toBe(7 * 86_400_000);
    // Eight daily buckets (the partial days at both ends), the two executions of the last 7 days among them.
    const values = (run.dashboard as { value: number }[]).map(({ value }) => value);
    expect(values.reduce((sum, value) => sum + value, 0)).toBe(2);
    const result = await download(run.downloadUrl);
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await result.text()).trim().split('\r\n');
    expect(lines[0]).toBe('start,value');
    expect(
      lines
        .slice(1)
        .map((line) => Number(line.split(',')[1]))
        .reduce((sum, value) => sum + value, 0),
    ).toBe(2);

    const { updateReport: changed } = await data(owner.token, UPDATE_REPORT, {
      id: created.id,
      input: { name: 'Usage', kind: 'USAGE_METRICS', period: 'MONTH_TO_DATE', format: 'JSON_LINES' },
    });
    expect(changed).toMatchObject({ __typename: 'Report', name: 'Usage', kind: 'USAGE_METRICS', metric: null, bucket: null });
    const { runReport: usage } = await data(owner.token, RUN_REPORT, { id: created.id });
    expect(usage).toMatchObject({ dashboard: null, usageMetrics: { aiTokens: 0 } });
    const usageLines = (await (await download(usage.downloadUrl)).text()).trim().split('\n');
    expect(usageLines.map((line) => JSON.parse(line) as unknown)).toContainEqual({ measure: 'AI tokens', value: 0 });

    expect((await data(owner.token, DELETE_REPORT, { id: created.id })).deleteReport).toEqual({
      __typename: 'DeleteReportPayload',
      id: created.id,
    });
    expect((await data(owner.token, REPORT, { id: created.id })).report).toBeNull();
    expect((await data(owner.token, RUN_REPORT, { id: created.id })).runReport).toEqual({ __typename: 'ReportNotFound', id: created.id });
    expect((await data(owner.token, DELETE_REPORT, { id: created.id })).deleteReport).toMatchObject({ __typename: 'ReportNotFound' });
  });

  it('answers a report that cannot be saved as it is with the field at fault', async () => {
    const invalid = async (input: Record<string, unknown>) =>
      (await data(owner.token, CREATE_REPORT, { input: { name: 'Bad', kind: 'USAGE_METRICS', period: 'LAST_7_DAYS', ...input } }))
        .createReport;
    expect(await invalid({ kind: 'DASHBOARD' })).toMatchObject({ __typename: 'InvalidAnalyticsInput', field: 'metric' });
    expect(await invalid({ metric: 'EVENTS' })).toMatchObject({ __typename: 'InvalidAnalyticsInput', field: 'metric' });
    expect(await invalid({ name: '  ' })).toMatchObject({ __typename: 'InvalidAnalyticsInput', field: 'name' });
    const schedule = { cron: '0 8 * * *', timeZone: 'Europe/Berlin', recipientUserIds: [owner.userId] };
    expect(await invalid({ schedule: { ...schedule, cron: '0 8 * *' } })).toMatchObject({ field: 'schedule.cron' });
    expect(await invalid({ schedule: { ...schedule, cron: '0 25 * * *' } })).toMatchObject({ field: 'schedule.cron' });
    expect(await invalid({ schedule: { ...schedule, timeZone: 'Mars/Olympus' } })).toMatchObject({ field: 'schedule.timeZone' });
    expect(await invalid({ schedule: { ...schedule, recipientUserIds: [] } })).toMatchObject({ field: 'schedule.recipientUserIds' });
    expect((await data(owner.token, UPDATE_REPORT, { id: randomUUID(), input: { name: 'x' } })).updateReport).toMatchObject({
      __typename: 'ReportNotFound',
    });
  });

  it('emails a scheduled report to its recipients through notifications once per due time, and again at the next', async () => {
    const stranger = randomUUID();
    const { createReport: report } = await data(owner.token, CREATE_REPORT, {
      input: {
        name: 'Morning usage',
        kind: 'USAGE_METRICS',
        period: 'LAST_7_DAYS',
        // The second recipient is no member of the tenant: notifications refuses it, and the owner still gets the report.
        schedule: { cron: '0 8 * * *', timeZone: 'Europe/Berlin', recipientUserIds: [owner.userId, stranger] },
      },
    });
    const firstDue = new Date(report.schedule.nextRunAt);
    expect(firstDue.getTime()).toBeGreaterThan(Date.now());
    expect(new Intl.DateTimeFormat('en', { timeZone: 'Europe/Berlin', hour: '2-digit', hourCycle: 'h23' }).format(firstDue)).toBe('08');
    const before = reportEmails().length;
    const scheduler = analytics.services.reportScheduler;

    expect(await scheduler.runDue(new Date(firstDue.getTime() - 1))).toBe(0);
    expect(await scheduler.runDue(firstDue)).toBe(1);
    // Two passes at and after the same due time, as two instances would make: neither sends it again.
    expect(await Promise.all([scheduler.runDue(firstDue), scheduler.runDue(new Date(firstDue.getTime() + 60_000))])).toEqual([0, 0]);
    await expect.poll(() => reportEmails().length, { timeout: 20_000 }).toBe(before + 1);
    const email = reportEmails().at(-1)!;
    expect(email).toMatchObject({ to: owner.email, subject: 'Report "Morning usage"' });
    expect(email.body).toContain('Executions completed');
    const link = /https?:\/\/\S+\/reports\/analytics\?token=\S+/.exec(email.body)?.[0];
    expect(link).toBeDefined();
    expect((await download(link!)).status).toBe(200);

    const { report: afterFirst } = await data(owner.token, REPORT, { id: report.id });
    expect(afterFirst.schedule).toMatchObject({ lastRunAt: firstDue.toISOString() });
    const secondDue = new Date(afterFirst.schedule.nextRunAt);
    expect(secondDue.getTime() - firstDue.getTime()).toBeGreaterThanOrEqual(23 * HOUR);
    expect(await scheduler.runDue(secondDue)).toBe(1);
    await expect.poll(() => reportEmails().length, { timeout: 20_000 }).toBe(before + 2);
    const deliveries = await sql<{ scheduled_for: Date; sent_at: Date | null; last_error: string | null }[]>(
      `select "scheduled_for", "sent_at", "last_error" from "analytics_report_deliveries" where "report_id" = ? order by "scheduled_for"`,
      [report.id],
    );
    expect(deliveries.map(({ scheduled_for }) => new Date(scheduled_for).toISOString())).toEqual([
      firstDue.toISOString(),
      secondDue.toISOString(),
    ]);
    expect(deliveries.every(({ sent_at }) => sent_at !== null)).toBe(true);
    expect(deliveries.every(({ last_error }) => last_error?.startsWith(`${stranger}: `))).toBe(true);
    expect(reportEmails().filter(({ to }) => to !== owner.email)).toEqual([]);

    const { updateReport: unscheduled } = await data(owner.token, UPDATE_REPORT, { id: report.id, input: { removeSchedule: true } });
    expect(unscheduled.schedule).toBeNull();
    expect(await scheduler.runDue(new Date(secondDue.getTime() + 7 * 86_400_000))).toBe(0);
  });

  it('writes a background export into a file to download, takes over a job a dead worker left, and removes expired files', async () => {
    // A period of its own, days ago, which events of the other tests and of the bus do not reach.
    const start = Date.now() - 20 * 86_400_000;
    const events = 3;
    await publishAndWait(owner.tenantId, [new Date(start + HOUR), new Date(start + 2 * HOUR), new Date(start + 3 * HOUR)]);
    const [from, to] = [new Date(start).toISOString(), new Date(start + 86_400_000).toISOString()];

    const started = async (format: string) => {
      const { startAnalyticsExport: job } = await data(owner.token, START_EXPORT, { from, to, format });
      expect(job).toMatchObject({ __typename: 'AnalyticsExportJob', format });
      await expect
        .poll(async () => (await data(owner.token, EXPORT_JOB, { id: job.id })).analyticsExportJob.status, { timeout: 20_000 })
        .toBe('SUCCEEDED');
      return (await data(owner.token, EXPORT_JOB, { id: job.id })).analyticsExportJob;
    };
    const csv = await started('CSV');
    expect(csv).toMatchObject({ rows: events, error: null, from, to });
    expect(csv.bytes).toBeGreaterThan(0);
    const csvFile = await download(csv.downloadUrl);
    expect(csvFile.status).toBe(200);
    const csvText = await csvFile.text();
    expect(Buffer.byteLength(csvText)).toBe(csv.bytes);
    expect(csvText.trim().split('\r\n')).toHaveLength(events + 1);
    expect(csvText.startsWith('id,occurredAt,')).toBe(true);

    const jsonLines = await started('JSON_LINES');
    const rows = (await (await download(jsonLines.downloadUrl)).text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string });
    expect(rows).toHaveLength(events);
    // The requester is told each file is ready, with a link that works as long as the file is kept.
    const readyEmails = () => sendgrid.accepted.filter((email) => email.subject === 'Your analytics export is ready');
    await expect.poll(() => readyEmails().length, { timeout: 20_000 }).toBe(2);
    expect(readyEmails().map(({ to }) => to)).toEqual([owner.email, owner.email]);
    const readyLink = /https?:\/\/\S+\/exports\/analytics\/files\?token=\S+/.exec(readyEmails()[0]!.body)?.[0];
    expect((await download(readyLink!)).status).toBe(200);
    expect((await data(owner.token, EXPORT_JOBS, { first: 2 })).analyticsExportJobs).toEqual([
      { id: jsonLines.id, status: 'SUCCEEDED' },
      { id: csv.id, status: 'SUCCEEDED' },
    ]);

    // A worker that died halfway: the job is RUNNING under a lease that ran out, with no file.
    await sql(`update "analytics_export_jobs" set "status" = 'RUNNING', "lease_expires_at" = ?, "storage_key" = null where "id" = ?`, [
      new Date(Date.now() - 1000),
      csv.id,
    ]);
    expect((await data(owner.token, EXPORT_JOB, { id: csv.id })).analyticsExportJob.downloadUrl).toBeNull();
    expect(await analytics.services.exportJobs.recover()).toBeGreaterThanOrEqual(1);
    await expect
      .poll(async () => (await data(owner.token, EXPORT_JOB, { id: csv.id })).analyticsExportJob.status, { timeout: 20_000 })
      .toBe('SUCCEEDED');
    const [retried] = await sql<{ attempts: number }[]>(`select "attempts" from "analytics_export_jobs" where "id" = ?`, [csv.id]);
    expect(retried!.attempts).toBe(2);

    await sql(`update "analytics_export_jobs" set "expires_at" = ? where "id" = ?`, [new Date(Date.now() - 1000), jsonLines.id]);
    expect(await analytics.services.exportJobs.prune()).toBe(1);
    const expired = (await data(owner.token, EXPORT_JOB, { id: jsonLines.id })).analyticsExportJob;
    expect(expired).toMatchObject({ status: 'EXPIRED', downloadUrl: null });
    expect((await download(jsonLines.downloadUrl)).status).toBe(403);

    const tooLong = await data(owner.token, START_EXPORT, {
      from: '2020-01-01T00:00:00.000Z',
      to: '2022-01-01T00:00:00.000Z',
      format: 'CSV',
    });
    expect(tooLong.startAnalyticsExport).toMatchObject({ __typename: 'InvalidAnalyticsInput', field: 'to' });
  });

  it('refuses every report and export operation to a VIEWER and a MEMBER, and shows no tenant another’s', async () => {
    const { createReport: report } = await data(owner.token, CREATE_REPORT, {
      input: { name: 'Private', kind: 'COHORTS', period: 'LAST_30_DAYS' },
    });
    const period = { from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date().toISOString() };
    for (const role of [Role.Viewer, Role.Member]) {
      const token = await someone([role]);
      const refused = [
        await send(token, CREATE_REPORT, { input: { name: 'No', kind: 'COHORTS', period: 'LAST_7_DAYS' } }),
        await send(token, UPDATE_REPORT, { id: report.id, input: { name: 'Renamed' } }),
        await send(token, DELETE_REPORT, { id: report.id }),
        await send(token, START_EXPORT, { ...period, format: 'CSV' }),
        await send(token, RUN_REPORT, { id: report.id }),
        await send(token, REPORTS),
      ];
      for (const response of refused) expect(response.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    expect((await data(owner.token, REPORT, { id: report.id })).report).toMatchObject({ name: 'Private' });

    const stranger = await someone([Role.Admin], randomUUID());
    expect((await data(stranger, REPORTS)).reports).toEqual([]);
    expect((await data(stranger, REPORT, { id: report.id })).report).toBeNull();
    expect((await data(stranger, RUN_REPORT, { id: report.id })).runReport).toEqual({ __typename: 'ReportNotFound', id: report.id });
    expect((await data(stranger, DELETE_REPORT, { id: report.id })).deleteReport).toMatchObject({ __typename: 'ReportNotFound' });
    expect((await data(stranger, EXPORT_JOBS)).analyticsExportJobs).toEqual([]);
    expect((await data(owner.token, REPORT, { id: report.id })).report).toMatchObject({ name: 'Private' });
  });
});
