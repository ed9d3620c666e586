import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { AnalyticsUnderTest, callerOf } from './support/analytics-under-test.ts';

const USAGE = `query ($from: DateTime!, $to: DateTime!) {
  usageMetrics(from: $from, to: $to) {
    activeUsers { daily { start value } weekly { start value } monthly { start value } }
    executionsByDay { day status count }
    executionDurations { count p50Ms p95Ms }
    aiTokens
    integrationSyncs { completed failed }
  }
}`;
const DASHBOARD = `query ($metric: DashboardMetric!, $bucket: TimeBucket!, $from: DateTime!, $to: DateTime!) {
  dashboard(metric: $metric, bucket: $bucket, from: $from, to: $to) { start value }
}`;
const COHORTS = `query ($from: DateTime!, $to: DateTime!) {
  cohorts(from: $from, to: $to) { week size activeByWeek retentionByWeek }
}`;
const EVENTS = `query ($from: DateTime!, $to: DateTime!, $type: String, $first: Int) {
  analyticsEvents(from: $from, to: $to, type: $type, first: $first) { id occurredAt type userId subjectId durationMs status tokens payload }
}`;
const EXPORT = `query ($from: DateTime!, $to: DateTime!) { analyticsExport(from: $from, to: $to) { totalEvents csvUrl jsonLinesUrl } }`;

const at = (iso: string) => `2026-${iso}Z`;

describe.each(storageModes(['postgres', 'amqp']))('analytics on $storage', ({ mode }) => {
  let under: AnalyticsUnderTest;

  beforeAll(async () => {
    under = await AnalyticsUnderTest.start(mode, `analytics_${mode}`);
  });

  afterAll(async () => {
    await under?.close();
  });

  it('stores an event on the bus once, a redelivery of it adding nothing, in the partition of its month', async () => {
    const tenantId = randomUUID();
    const userId = randomUUID();
    const registered = await under.publish({
      type: 'user.registered',
      tenantId,
      occurredAt: at('02-14T09:30:00.000'),
      payload: { userId, method: 'password', password: 'hunter2' },
    });
    await under.publish(registered);
    const late = await under.publish({
      type: 'workflow.created',
      tenantId,
      occurredAt: '2019-07-31T23:59:59.999Z',
      payload: { workflowId: 'w-1' },
    });
    await under.waitForEvents(tenantId, 2);

    const rows = await under.sql<{ id: string; partition: string; user_id: string; payload: unknown }[]>(
      `select "id", tableoid::regclass::text as "partition", "user_id", "payload" from "analytics_events" where "tenant_id" = ? order by "occurred_at"`,
      [tenantId],
    );
    expect(rows.map(({ id, partition }) => ({ id, partition }))).toEqual([
      { id: late.id, partition: 'analytics_events_2019_07' },
      { id: registered.id, partition: 'analytics_events_2026_02' },
    ]);
    const payload = typeof rows[1]!.payload === 'string' ? JSON.parse(rows[1]!.payload) : rows[1]!.payload;
    expect(rows[1]!.user_id).toBe(userId);
    expect(payload).toMatchObject({ userId, password: '[REDACTED]' });
  });

  it('recognises a redelivered event whose id is no UUID, and skips an event of no tenant', async () => {
    const tenantId = randomUUID();
    const legacy = await under.publish({ id: 'legacy-42', type: 'workflow.updated', tenantId, occurredAt: at('07-01T00:00:00.000') });
    await under.publish(legacy);
    await under.publish({ type: 'user.login.failed', tenantId: undefined, payload: { email: 'nobody@example.com' } });
    await under.publishAndWait(tenantId, [{ type: 'workflow.deleted', occurredAt: at('07-02T00:00:00.000') }], 2);
    const rows = await under.sql<{ id: string; type: string }[]>(
      `select "id", "type" from "analytics_events" where "tenant_id" = ? order by "occurred_at"`,
      [tenantId],
    );
    expect(rows.map(({ type }) => type)).toEqual(['workflow.updated', 'workflow.deleted']);
    expect(rows[0]!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("makes a month's partition again when it was dropped since it was made", async () => {
    const tenantId = randomUUID();
    await under.publishAndWait(tenantId, [{ type: 'workflow.created', occurredAt: '2018-08-10T00:00:00.000Z', payload: {} }]);
    await under.sql('drop table "analytics_events_2018_08"');
    await under.publishAndWait(tenantId, [{ type: 'workflow.updated', occurredAt: '2018-08-11T00:00:00.000Z', payload: {} }], 1);
    const rows = await under.sql<{ type: string; partition: string }[]>(
      `select "type", tableoid::regclass::text as "partition" from "analytics_events" where "tenant_id" = ?`,
      [tenantId],
    );
    expect(rows).toEqual([{ type: 'workflow.updated', partition: 'analytics_events_2018_08' }]);
  });

  it('makes the partitions of the current month and the ones ahead when it starts', async () => {
    const now = new Date();
    const month = (offset: number) => {
      const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
      return `analytics_events_${start.getUTCFullYear()}_${String(start.getUTCMonth() + 1).padStart(2, '0')}`;
    };
    await expect
      .poll(async () =>
        (
          await under.sql<{ name: string }[]>(
            `select c.relname as "name" from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
             where p.relname = 'analytics_events'`,
          )
        ).map(({ name }) => name),
      )
      .toEqual(expect.arrayContaining([month(0), month(1), month(2), month(3)]));
  });

  it('computes usage on known data: active users, executions by day and status, p50/p95 durations, tokens, syncs', async () => {
    const admin = callerOf([Role.Admin]);
    const [u1, u2, u3] = [randomUUID(), randomUUID(), randomUUID()];
    const execution = (type: string, executionId: string, ownerId: string, time: string, status: string) => ({
      type: `workflow.execution.${type}`,
      occurredAt: at(time),
      payload: { executionId, workflowId: 'w', ownerId, status },
    });
    await under.publishAndWait(admin.tenantId, [
      execution('started', 'e1', u1, '03-02T10:00:00.000', 'RUNNING'),
      execution('completed', 'e1', u1, '03-02T10:00:01.000', 'COMPLETED'),
      execution('started', 'e2', u1, '03-02T11:00:00.000', 'RUNNING'),
      execution('completed', 'e2', u1, '03-02T11:00:02.000', 'COMPLETED'),
      execution('started', 'e3', u2, '03-02T12:00:00.000', 'RUNNING'),
      execution('failed', 'e3', u2, '03-02T12:00:04.000', 'FAILED'),
      execution('cancelled', 'e4', u3, '03-03T08:00:00.000', 'CANCELLED'),
      { type: 'ai.usage.recorded', occurredAt: at('03-04T09:00:00.000'), payload: { userId: u1, inputTokens: 100, outputTokens: 50 } },
      { type: 'ai.usage.recorded', occurredAt: at('03-04T09:30:00.000'), payload: { userId: null, inputTokens: 30, outputTokens: 20 } },
      { type: 'integration.sync.completed', occurredAt: at('03-05T00:00:00.000'), payload: { integrationId: 'i', runId: 'r1' } },
      { type: 'integration.sync.completed', occurredAt: at('03-05T01:00:00.000'), payload: { integrationId: 'i', runId: 'r2' } },
      { type: 'integration.sync.failed', occurredAt: at('03-05T02:00:00.000'), payload: { integrationId: 'i', runId: 'r3' } },
      // Outside the period: counted nowhere.
      execution('completed', 'e0', u1, '02-28T10:00:00.000', 'COMPLETED'),
    ]);

    const { usageMetrics } = await under.data(admin, USAGE, { from: at('03-01T00:00:00.000'), to: at('04-01T00:00:00.000') });
    expect(usageMetrics).toEqual({
      activeUsers: {
        daily: [
          { start: at('03-02T00:00:00.000'), value: 2 },
          { start: at('03-03T00:00:00.000'), value: 1 },
          { start: at('03-04T00:00:00.000'), value: 1 },
        ],
        weekly: [{ start: at('03-02T00:00:00.000'), value: 3 }],
        monthly: [{ start: at('03-01T00:00:00.000'), value: 3 }],
      },
      executionsByDay: [
        { day: at('03-02T00:00:00.000'), status: 'COMPLETED', count: 2 },
        { day: at('03-02T00:00:00.000'), status: 'FAILED', count: 1 },
        { day: at('03-03T00:00:00.000'), status: 'CANCELLED', count: 1 },
      ],
      // 1 s, 2 s and 4 s: the median is 2 s, the 95th percentile interpolates 90% of the way from 2 s to 4 s.
      executionDurations: { count: 3, p50Ms: 2000, p95Ms: 3800 },
      aiTokens: 200,
      integrationSyncs: { completed: 2, failed: 1 },
    });

    const executions = await under.data(admin, DASHBOARD, {
      metric: 'EXECUTIONS',
      bucket: 'DAY',
      from: at('03-02T00:00:00.000'),
      to: at('03-05T00:00:00.000'),
    });
    expect(executions.dashboard).toEqual([
      { start: at('03-02T00:00:00.000'), value: 3 },
      { start: at('03-03T00:00:00.000'), value: 1 },
      { start: at('03-04T00:00:00.000'), value: 0 },
    ]);
    const tokens = await under.data(admin, DASHBOARD, {
      metric: 'AI_TOKENS',
      bucket: 'HOUR',
      from: at('03-04T08:00:00.000'),
      to: at('03-04T10:00:00.000'),
    });
    expect(tokens.dashboard).toEqual([
      { start: at('03-04T08:00:00.000'), value: 0 },
      { start: at('03-04T09:00:00.000'), value: 200 },
    ]);

    const listed = await under.data(admin, EVENTS, {
      from: at('03-01T00:00:00.000'),
      to: at('04-01T00:00:00.000'),
      type: 'workflow.execution.failed',
    });
    expect(listed.analyticsEvents).toEqual([
      {
        id: expect.any(String),
        occurredAt: at('03-02T12:00:04.000'),
        type: 'workflow.execution.failed',
        userId: u2,
        subjectId: 'e3',
        durationMs: null,
        status: 'FAILED',
        tokens: null,
        payload: { executionId: 'e3', workflowId: 'w', ownerId: u2, status: 'FAILED' },
      },
    ]);
  });

  it('builds the sign-up week × weeks-since retention matrix of a small known set of users', async () => {
    const admin = callerOf([Role.Owner]);
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const registered = (userId: string, day: string) => ({
      type: 'user.registered',
      occurredAt: at(`${day}T09:00:00.000`),
      payload: { userId },
    });
    const active = (ownerId: string, day: string) => ({
      type: 'workflow.created',
      occurredAt: at(`${day}T09:00:00.000`),
      payload: { ownerId },
    });
    await under.publishAndWait(admin.tenantId, [
      registered(a, '01-05'),
      registered(b, '01-07'),
      registered(c, '01-14'),
      active(a, '01-13'),
      active(a, '01-20'),
      active(b, '01-21'),
      active(c, '01-22'),
      // After the period: not counted.
      active(b, '01-27'),
    ]);

    const { cohorts } = await under.data(admin, COHORTS, { from: at('01-07T00:00:00.000'), to: at('01-26T00:00:00.000') });
    expect(cohorts).toEqual([
      { week: at('01-05T00:00:00.000'), size: 2, activeByWeek: [2, 1, 2], retentionByWeek: [1, 0.5, 1] },
      { week: at('01-12T00:00:00.000'), size: 1, activeByWeek: [1, 1], retentionByWeek: [1, 1] },
    ]);
  });

  it("streams the tenant's events of a period as CSV and JSON lines from a signed link, and no other tenant's", async () => {
    const admin = callerOf([Role.Admin]);
    const stranger = callerOf([Role.Admin]);
    await under.publishAndWait(admin.tenantId, [
      { type: 'workflow.created', occurredAt: at('05-01T10:00:00.000'), payload: { workflowId: 'w-1', status: '=1+1' } },
      { type: 'workflow.deleted', occurredAt: at('05-31T23:59:59.000'), payload: { workflowId: 'w-1' } },
      { type: 'workflow.created', occurredAt: at('06-01T00:00:00.000'), payload: { workflowId: 'w-2' } },
    ]);
    await under.publishAndWait(stranger.tenantId, [{ type: 'workflow.created', occurredAt: at('05-02T10:00:00.000'), payload: {} }]);

    const { analyticsExport } = await under.data(admin, EXPORT, { from: at('05-01T00:00:00.000'), to: at('06-01T00:00:00.000') });
    expect(analyticsExport.totalEvents).toBe(2);
    // The links name the service's public origin (ANALYTICS_EXPORT_BASE_URL); here it listens on a port of its own.
    const onService = (link: string) => `${under.analytics.url}${new URL(link).pathname}${new URL(link).search}`;
    const csv = await fetch(onService(analyticsExport.csvUrl));
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await csv.text()).trimEnd().split('\r\n');
    expect(lines[0]).toBe('id,occurredAt,recordedAt,type,userId,subjectId,subjectIds,durationMs,status,tokens,payload');
    expect(lines).toHaveLength(3);
    // JSON quoted as one cell; a cell a spreadsheet would run as a formula is prefixed with '.
    expect(lines[1]).toMatch(
      /^[0-9a-f-]{36},2026-05-01T10:00:00.000Z,[^,]+,workflow.created,,w-1,"{""workflowId"":""w-1""}",,'=1\+1,,"{.*}"$/,
    );
    expect(lines[2]).toContain(',workflow.deleted,');

    const jsonLines = await fetch(onService(analyticsExport.jsonLinesUrl));
    expect(jsonLines.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    const rows = (await jsonLines.text())
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.map(({ type, occurredAt, subjectId }) => ({ type, occurredAt, subjectId }))).toEqual([
      { type: 'workflow.created', occurredAt: at('05-01T10:00:00.000'), subjectId: 'w-1' },
      { type: 'workflow.deleted', occurredAt: at('05-31T23:59:59.000'), subjectId: 'w-1' },
    ]);

    const forged = new URL(onService(analyticsExport.csvUrl));
    forged.searchParams.set('token', `${forged.searchParams.get('token')!.split('.')[0]}.forged`);
    expect((await fetch(forged)).status).toBe(403);
  });

  it('refuses a VIEWER and a MEMBER with FORBIDDEN, an anonymous caller with UNAUTHENTICATED', async () => {
    const period = { from: at('03-01T00:00:00.000'), to: at('04-01T00:00:00.000') };
    for (const roles of [[Role.Viewer], [Role.Member]]) {
      for (const query of [USAGE, COHORTS, EXPORT, EVENTS]) {
        const refused = await under.send(callerOf(roles), query, period);
        expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
      }
    }
    const anonymous = await under.send(undefined, USAGE, period);
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });

  it('answers a reversed period, one too long and too many buckets with BAD_USER_INPUT', async () => {
    const admin = callerOf([Role.Admin]);
    const reversed = await under.send(admin, USAGE, { from: at('04-01T00:00:00.000'), to: at('03-01T00:00:00.000') });
    expect(reversed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'to' });
    const tooLong = await under.send(admin, USAGE, { from: '2024-01-01T00:00:00.000Z', to: at('03-01T00:00:00.000') });
    expect(tooLong.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'to' });
    expect(tooLong.errors?.[0]?.message).toBe('The period must be at most 366 days long');
    const tooMany = await under.send(admin, DASHBOARD, {
      metric: 'EVENTS',
      bucket: 'HOUR',
      from: at('01-01T00:00:00.000'),
      to: at('03-01T00:00:00.000'),
    });
    expect(tooMany.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'bucket' });
  });
});
