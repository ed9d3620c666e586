import { expect, vi } from 'vitest';
import { defineIsolationCases, type IsolationContext } from '../../../../test/support/tenant-isolation.ts';

const PERIOD = { from: '2000-01-01T00:00:00.000Z', to: '2000-12-31T00:00:00.000Z' };
/** Around now: tenant A's sign-up (auth's `user.registered`) is its event. */
const recent = () => ({ from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date(Date.now() + 86_400_000).toISOString() });
const EVENTS = `query ($from: DateTime!, $to: DateTime!) { analyticsEvents(from: $from, to: $to, first: 100) { id type userId } }`;
const USAGE = `query ($from: DateTime!, $to: DateTime!) { usageMetrics(from: $from, to: $to) { activeUsers { daily { value } } aiTokens } }`;
const DASHBOARD = `query ($from: DateTime!, $to: DateTime!) { dashboard(metric: ACTIVE_USERS, bucket: DAY, from: $from, to: $to) { value } }`;
const COHORTS = `query ($from: DateTime!, $to: DateTime!) { cohorts(from: $from, to: $to) { size } }`;
const EXPORT = `query ($from: DateTime!, $to: DateTime!) { analyticsExport(from: $from, to: $to) { totalEvents } }`;
const REPORTS = `query { reports { id name schedule { recipientUserIds } } }`;
const REPORT = `query ($id: ID!) { report(id: $id) { id } }`;
const CREATE_REPORT = `mutation ($input: CreateReportInput!) { createReport(input: $input) { __typename ... on Report { id } } }`;
const UPDATE_REPORT = `mutation ($id: ID!, $input: UpdateReportInput!) { updateReport(id: $id, input: $input) { __typename } }`;
const DELETE_REPORT = `mutation ($id: ID!) { deleteReport(id: $id) { __typename } }`;
const RUN_REPORT = `query ($id: ID!) { runReport(id: $id) { __typename } }`;
const START_EXPORT = `mutation ($from: DateTime!, $to: DateTime!) {
  startAnalyticsExport(from: $from, to: $to, format: CSV) { __typename ... on AnalyticsExportJob { id } }
}`;
const EXPORT_JOB = `query ($id: ID!) { analyticsExportJob(id: $id) { id } }`;
const EXPORT_JOBS = `query { analyticsExportJobs(first: 100) { id status } }`;

const OPERATION_USAGE = `query ($from: DateTime!, $to: DateTime!) { operationUsage(from: $from, to: $to, first: 200) { operationName count } }`;
const CLIENTS_AND_OPERATIONS = `query ($from: DateTime!, $to: DateTime!) {
  clientUsage(from: $from, to: $to) { count }
  operationUsage(from: $from, to: $to, first: 200) { count }
}`;
let probed: Promise<void> | undefined;

/** Tenant A calls an operation of its own, and sees it in its usage once the gateway's report reached analytics. */
function probeUsageOfA({ a, data }: IsolationContext): Promise<void> {
  probed ??= (async () => {
    await data(a, 'query IsolationProbeOfA { __typename }');
    await vi.waitFor(
      async () => {
        const operations = (await data(a, OPERATION_USAGE, recent())).operationUsage as { operationName: string | null }[];
        expect(operations.map(({ operationName }) => operationName)).toContain('IsolationProbeOfA');
      },
      { timeout: 30_000, interval: 250 },
    );
  })();
  return probed;
}

/** Tenant B (a stranger) sees none of tenant A's events, in no aggregate: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    // Tenant A's registration reaches analytics through the bus, after the response.
    const eventId = await vi.waitFor(
      async () => {
        const events = (await data(a, EVENTS, recent())).analyticsEvents as { id: string; type: string }[];
        const registered = events.find(({ type }) => type === 'user.registered');
        expect(registered).toBeDefined();
        return registered!.id;
      },
      { timeout: 20_000, interval: 100 },
    );
    const { createReport } = await data(a, CREATE_REPORT, {
      input: {
        name: 'A',
        kind: 'USAGE_METRICS',
        period: 'LAST_7_DAYS',
        schedule: { cron: '0 8 * * 1', timeZone: 'UTC', recipientUserIds: [a.userId] },
      },
    });
    const { startAnalyticsExport } = await data(a, START_EXPORT, recent());
    return { eventId, reportId: createReport.id as string, exportJobId: startAnalyticsExport.id as string };
  },
  stateOfA: async ({ a, data }) => [await data(a, EVENTS, recent()), await data(a, REPORTS)],
  root: {
    'Query.analyticsEvents': async ({ a, b, data }) => {
      const events = (await data(b, EVENTS, recent())).analyticsEvents as { userId: string | null }[];
      expect(events.filter(({ userId }) => userId === a.userId)).toEqual([]);
    },
    'Query.usageMetrics': async ({ b, data }) => {
      expect((await data(b, USAGE, PERIOD)).usageMetrics).toEqual({ activeUsers: { daily: [] }, aiTokens: 0 });
    },
    'Query.dashboard': async ({ b, data }) => {
      const { dashboard } = await data(b, DASHBOARD, recent());
      // Tenant B's owner is its one active user; tenant A's is not counted with it.
      expect((dashboard as { value: number }[]).every(({ value }) => value <= 1)).toBe(true);
    },
    'Query.cohorts': async ({ b, data }) => {
      // Tenant B's own owner is its one sign-up; tenant A's is not counted with it.
      expect((await data(b, COHORTS, recent())).cohorts).toEqual([{ size: 1 }]);
    },
    'Query.analyticsExport': async ({ b, data }) => {
      expect((await data(b, EXPORT, PERIOD)).analyticsExport).toEqual({ totalEvents: 0 });
    },
    'Query.reports': async ({ b, data }) => {
      expect((await data(b, REPORTS)).reports).toEqual([]);
    },
    'Query.report': async ({ b, data }, { reportId }) => {
      expect((await data(b, REPORT, { id: reportId })).report).toBeNull();
    },
    'Query.runReport': async ({ b, data }, { reportId }) => {
      expect((await data(b, RUN_REPORT, { id: reportId })).runReport).toEqual({ __typename: 'ReportNotFound' });
    },
    'Mutation.createReport': async ({ a, b, data }) => {
      // Tenant B's report is B's own: A does not see it, and it cannot be sent to A.
      const scheduleForA = { cron: '0 8 * * 1', timeZone: 'UTC', recipientUserIds: [a.userId] };
      const { createReport } = await data(b, CREATE_REPORT, {
        input: { name: 'B', kind: 'COHORTS', period: 'LAST_7_DAYS', schedule: scheduleForA },
      });
      expect(createReport.__typename).toBe('Report');
      expect((await data(a, REPORT, { id: createReport.id })).report).toBeNull();
      await data(b, DELETE_REPORT, { id: createReport.id });
    },
    'Mutation.updateReport': async ({ b, data }, { reportId }) => {
      expect((await data(b, UPDATE_REPORT, { id: reportId, input: { name: 'Taken' } })).updateReport).toEqual({
        __typename: 'ReportNotFound',
      });
    },
    'Mutation.deleteReport': async ({ b, data }, { reportId }) => {
      expect((await data(b, DELETE_REPORT, { id: reportId })).deleteReport).toEqual({ __typename: 'ReportNotFound' });
    },
    'Mutation.startAnalyticsExport': async ({ a, b, data }) => {
      const { startAnalyticsExport } = await data(b, START_EXPORT, recent());
      expect((await data(a, EXPORT_JOB, { id: startAnalyticsExport.id })).analyticsExportJob).toBeNull();
    },
    'Query.analyticsExportJob': async ({ b, data }, { exportJobId }) => {
      expect((await data(b, EXPORT_JOB, { id: exportJobId })).analyticsExportJob).toBeNull();
    },
    'Query.analyticsExportJobs': async ({ b, data }, { exportJobId }) => {
      const jobs = (await data(b, EXPORT_JOBS)).analyticsExportJobs as { id: string }[];
      expect(jobs.map(({ id }) => id)).not.toContain(exportJobId);
    },
    'Query.operationUsage': async (context) => {
      await probeUsageOfA(context);
      const operations = (await context.data(context.b, OPERATION_USAGE, recent())).operationUsage as { operationName: string | null }[];
      expect(operations.map(({ operationName }) => operationName)).not.toContain('IsolationProbeOfA');
    },
    'Query.clientUsage': async (context) => {
      await probeUsageOfA(context);
      // Tenant B's clients add up to tenant B's operations, which hold none of tenant A's; retried only while a report of
      // B's own calls lands between the two reads.
      await vi.waitFor(
        async () => {
          const { clientUsage, operationUsage } = await context.data(context.b, CLIENTS_AND_OPERATIONS, recent());
          const total = (rows: { count: number }[]) => rows.reduce((sum, { count }) => sum + count, 0);
          // At most 200 operations are listed: past them, B's own would be left out of the comparison.
          if (operationUsage.length < 200) expect(total(clientUsage)).toBe(total(operationUsage));
        },
        { timeout: 5_000, interval: 100 },
      );
    },
  },
  entities: { AnalyticsEvent: { selection: '... on AnalyticsEvent { id type }', id: ({ eventId }) => eventId } },
});
