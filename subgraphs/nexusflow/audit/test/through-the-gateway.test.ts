import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, systemFork } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { loadAuditConfig } from '../src/config.ts';
import { entryHash } from '../src/domain/chain.ts';
import { AuditUnderTest, callerOf } from './support/audit-under-test.ts';

const SET_CONTACT_POINTS = `mutation SaveContactPoints($input: ContactPointsInput!) { setContactPoints(input: $input) { email } }`;
const READ_CONTACT_POINTS = `query MyContactPoints { contactPoints { email phone } }`;
const VERIFY = `query ($from: DateTime, $to: DateTime) {
  verifyAuditTrail(from: $from, to: $to) { intact checkedEntries firstBreak { entryId sequence reason expected found } }
}`;
const SEARCH = `query ($filter: AuditEntryFilterInput, $first: Int, $after: String) {
  auditEntries(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id sequence source action resourceType resourceId outcome details actor { kind id } ipAddress userAgent prevHash hash } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const DAY_MS = 86_400_000;

interface Page {
  edges: { cursor: string; node: { sequence: number; actor: { kind: string; id: string | null } } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();

describe.each(storageModes(['postgres', 'amqp']))('the audit trail on $storage', ({ mode }) => {
  let under: AuditUnderTest;

  beforeAll(async () => {
    under = await AuditUnderTest.start(mode, `audit_trail_${mode}`, ['notifications']);
  });

  afterAll(async () => {
    await under?.close();
  });

  it('turns an event on the bus into one entry, a redelivered one into none more, with its secrets redacted', async () => {
    const tenantId = randomUUID();
    const [admin, member] = [randomUUID(), randomUUID()];
    const changed = await under.publish({
      type: 'member.role.changed',
      tenantId,
      payload: { memberId: member, role: 'ADMIN', changedBy: admin, password: 'hunter2', nested: { apiKey: 'nfk_secret' } },
    });
    await under.publish(changed);
    await under.publish({ type: 'workflow.created', tenantId, payload: { workflowId: 'w-1' } });

    const entries = await under.waitForEntries(tenantId, 2);
    expect(entries.map(({ sequence, action, eventId }) => ({ sequence, action, eventId }))).toEqual([
      { sequence: 1, action: 'member.role.changed', eventId: changed.id },
      { sequence: 2, action: 'workflow.created', eventId: expect.any(String) },
    ]);
    expect(entries[0]).toMatchObject({
      source: 'EVENT',
      actorKind: 'USER',
      actorId: admin,
      resourceType: 'member',
      resourceId: member,
      outcome: 'SUCCESS',
      details: { memberId: member, role: 'ADMIN', changedBy: admin, password: '[REDACTED]', nested: { apiKey: '[REDACTED]' } },
    });
    expect(entries[1]).toMatchObject({ actorKind: 'SYSTEM', actorId: null, resourceType: 'workflow', resourceId: 'w-1' });
  });

  it('records a mutation through the gateway with who, where from and its variables redacted', async () => {
    const caller = callerOf([Role.Member]);
    const response = await under.send(
      caller,
      SET_CONTACT_POINTS,
      { input: { email: 'ada@example.com', pushToken: 'fcm-registration-token' } },
      { 'user-agent': 'audit-test/1.0' },
    );
    expect(response.errors).toBeUndefined();

    const [entry] = await under.waitForEntries(caller.tenantId, 1);
    expect(entry).toMatchObject({
      source: 'MUTATION',
      actorKind: 'USER',
      actorId: caller.userId,
      action: 'mutation.setContactPoints',
      resourceType: 'contactPoints',
      outcome: 'SUCCESS',
      userAgent: 'audit-test/1.0',
      ipAddress: expect.any(String),
      details: {
        operationName: 'SaveContactPoints',
        roles: ['MEMBER'],
        fields: ['setContactPoints'],
        variables: { input: { email: 'ada@example.com', pushToken: '[REDACTED]' } },
        errors: [],
      },
    });
  });

  it('names what a mutation did however its document hides it: inline arguments, fragments, aliases, @skip', async () => {
    const caller = callerOf([Role.Member]);
    const response = await under.send(
      caller,
      `mutation Hidden($skip: Boolean!) {
        ... on Mutation { saved: setContactPoints(input: { email: "hid@example.com", pushToken: "inline-token" }) { email } }
        ...More
      }
      fragment More on Mutation { setAuditRetention(days: 30) @skip(if: $skip) { retentionDays } }`,
      { skip: true },
    );
    expect(response.errors).toBeUndefined();

    const [entry] = await under.waitForEntries(caller.tenantId, 1);
    expect(entry).toMatchObject({
      action: 'mutation.setContactPoints',
      details: {
        fields: ['setContactPoints'],
        variables: { skip: true },
        arguments: { saved: { input: { email: 'hid@example.com', pushToken: '[REDACTED]' } } },
      },
    });
  });

  it("records a refused mutation as a failure with its error code, and a VIEWER's as well", async () => {
    const viewer = callerOf([Role.Viewer]);
    const refused = await under.send(viewer, 'mutation { setAuditRetention(days: 30) { retentionDays } }');
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    const [entry] = await under.waitForEntries(viewer.tenantId, 1);
    expect(entry).toMatchObject({ action: 'mutation.setAuditRetention', outcome: 'FAILURE', details: { errors: ['FORBIDDEN'] } });
  });

  it('records an operation that reads a field marked @sensitive, naming the fields, and not one that does not', async () => {
    const caller = callerOf([Role.Member]);
    await under.data(caller, SET_CONTACT_POINTS, { input: { email: 'grace@example.com', phone: '+4915112345678' } });
    await under.data(caller, '{ notificationTemplates { id } }');
    expect((await under.data(caller, READ_CONTACT_POINTS)).contactPoints).toEqual({ email: 'grace@example.com', phone: '+4915112345678' });

    const entries = await under.waitForEntries(caller.tenantId, 2);
    expect(entries.map(({ source, action }) => `${source} ${action}`)).toEqual([
      'MUTATION mutation.setContactPoints',
      'SENSITIVE_READ read.ContactPoints.email',
    ]);
    expect(entries[1]!.details).toMatchObject({ operationName: 'MyContactPoints', fields: ['ContactPoints.email', 'ContactPoints.phone'] });
  });

  it('proves an intact chain, and finds an entry edited in the database at that entry', async () => {
    const tenantId = randomUUID();
    for (const [index, type] of ['workflow.created', 'workflow.updated', 'workflow.deleted'].entries()) {
      await under.publish({ type, tenantId, payload: { workflowId: `w-${index}` } });
    }
    const entries = await under.waitForEntries(tenantId, 3);
    expect(entries.map(({ prevHash }) => prevHash)).toEqual(['0'.repeat(64), entries[0]!.hash, entries[1]!.hash]);
    const admin = callerOf([Role.Admin], tenantId);
    expect((await under.data(admin, VERIFY)).verifyAuditTrail).toEqual({ intact: true, checkedEntries: 3, firstBreak: null });

    // Someone with the owner's access to the database turns the trigger off to rewrite history.
    await systemFork(under.audit.database).transactional(async (tx) => {
      await tx.execute('alter table "audit_entries" disable trigger "audit_entries_append_only"');
      await tx.execute(`update "audit_entries" set "details" = '{"workflowId":"w-forged"}' where "id" = ?`, [entries[1]!.id]);
      await tx.execute('alter table "audit_entries" enable always trigger "audit_entries_append_only"');
    });

    const { verifyAuditTrail } = await under.data(admin, VERIFY);
    const recomputed = entryHash(
      { ...entries[1]!, details: { workflowId: 'w-forged' } } as never,
      entries[1]!.prevHash,
      loadAuditConfig({}).chainKey,
    );
    expect(verifyAuditTrail).toEqual({
      intact: false,
      checkedEntries: 2,
      firstBreak: { entryId: entries[1]!.id, sequence: 2, reason: 'CONTENT', expected: recomputed, found: entries[1]!.hash },
    });
  });

  it('finds an edited entry whose hash was recomputed without the trail key, and the newest entries deleted', async () => {
    const tenantId = randomUUID();
    for (const [index, type] of ['workflow.created', 'workflow.updated', 'workflow.deleted'].entries()) {
      await under.publish({ type, tenantId, payload: { workflowId: `w-${index}` } });
    }
    const entries = await under.waitForEntries(tenantId, 3);
    const admin = callerOf([Role.Admin], tenantId);
    // Someone with the database but not the key: the edited entry's plain SHA-256 and every later link made to fit.
    const forged = entryHash({ ...entries[0]!, details: { workflowId: 'w-forged' } } as never, entries[0]!.prevHash, '', 1);
    await systemFork(under.audit.database).transactional(async (tx) => {
      await tx.execute('alter table "audit_entries" disable trigger "audit_entries_append_only"');
      await tx.execute(`update "audit_entries" set "details" = '{"workflowId":"w-forged"}', "hash" = ? where "id" = ?`, [
        forged,
        entries[0]!.id,
      ]);
      await tx.execute(`update "audit_entries" set "prev_hash" = ? where "id" = ?`, [forged, entries[1]!.id]);
      await tx.execute('alter table "audit_entries" enable always trigger "audit_entries_append_only"');
    });
    expect((await under.data(admin, VERIFY)).verifyAuditTrail.firstBreak).toMatchObject({ sequence: 1, reason: 'CONTENT' });

    const other = randomUUID();
    for (const type of ['apikey.created', 'apikey.revoked', 'apikey.created']) await under.publish({ type, tenantId: other, payload: {} });
    const kept = await under.waitForEntries(other, 3);
    await systemFork(under.audit.database).transactional(async (tx) => {
      await tx.execute('alter table "audit_entries" disable trigger "audit_entries_append_only"');
      await tx.execute(`delete from "audit_entries" where "tenant_id" = ? and "sequence" = 3`, [other]);
      await tx.execute('alter table "audit_entries" enable always trigger "audit_entries_append_only"');
    });
    expect((await under.data(callerOf([Role.Admin], other), VERIFY)).verifyAuditTrail).toEqual({
      intact: false,
      checkedEntries: 2,
      firstBreak: { entryId: kept[1]!.id, sequence: 3, reason: 'TRUNCATED', expected: '3', found: '2' },
    });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of entries at the database, also with the pruning setting on or as a replica', async () => {
    const tenantId = randomUUID();
    await under.publish({ type: 'apikey.created', tenantId, payload: { apiKeyId: randomUUID() } });
    const [entry] = await under.waitForEntries(tenantId, 1);
    await expect(under.sql(`update "audit_entries" set "action" = 'nothing' where "id" = ?`, [entry!.id])).rejects.toThrow(
      /append-only: UPDATE refused/,
    );
    await expect(under.sql(`delete from "audit_entries" where "id" = ?`, [entry!.id])).rejects.toThrow(/append-only: DELETE refused/);
    await expect(under.sql('truncate "audit_entries"')).rejects.toThrow(/append-only: TRUNCATE refused/);
    // A superuser replaying as a replica, which ordinary triggers do not see: these fire always. On the shared embedded
    // server (as `npm start` runs it) the service connects as its own role, which may not become a replica at all.
    const asReplica = systemFork(under.audit.database).transactional(async (tx) => {
      await tx.execute('set local session_replication_role = replica');
      await tx.execute(`update "audit_entries" set "action" = 'nothing' where "id" = ?`, [entry!.id]);
    });
    await expect(asReplica).rejects.toThrow(
      mode === 'embedded' ? /permission denied to set parameter "session_replication_role"/ : /append-only: UPDATE refused/,
    );
    // Pruning's setting lets through only entries past a retention, and this tenant has none.
    const pruning = systemFork(under.audit.database).transactional(async (tx) => {
      await tx.execute(`select set_config('audit.prune', 'on', true)`);
      await tx.execute(`delete from "audit_entries" where "id" = ?`, [entry!.id]);
    });
    await expect(pruning).rejects.toThrow(/append-only: DELETE refused/);
    expect(await under.entriesOf(tenantId)).toHaveLength(1);
  });

  it('keeps one chain when appends of a tenant race each other', async () => {
    const tenantId = randomUUID();
    const { trail } = under.audit.services;
    await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        trail.append(systemFork(under.audit.database), {
          tenantId,
          eventId: randomUUID(),
          occurredAt: new Date(),
          source: 'EVENT',
          actorKind: 'SYSTEM',
          actorId: null,
          action: 'workflow.execution.completed',
          resourceType: 'workflow',
          resourceId: `w-${index}`,
          outcome: 'SUCCESS',
          details: { index },
          ipAddress: null,
          userAgent: null,
        }),
      ),
    );
    const entries = await under.entriesOf(tenantId);
    expect(entries.map(({ sequence }) => sequence)).toEqual(Array.from({ length: 30 }, (_, index) => index + 1));
    expect(new Set(entries.map(({ prevHash }) => prevHash)).size).toBe(30);
    const { verifyAuditTrail } = await under.data(callerOf([Role.Owner], tenantId), VERIFY);
    expect(verifyAuditTrail).toMatchObject({ intact: true, checkedEntries: 30 });
  });

  it('appends a batch of several tenants in one transaction of as many statements as one entry, each chain in order, each event once', async () => {
    const [first, second] = [randomUUID(), randomUUID()] as const;
    const { trail } = under.audit.services;
    const entry = (tenantId: string, eventId: string, index: number) => ({
      tenantId,
      eventId,
      occurredAt: new Date(),
      source: 'EVENT' as const,
      actorKind: 'SYSTEM' as const,
      actorId: null,
      action: 'workflow.step.completed',
      resourceType: 'execution',
      resourceId: `e-${index}`,
      outcome: 'SUCCESS' as const,
      details: { index },
      ipAddress: null,
      userAgent: null,
    });
    const statements = async () => (await under.audit.metrics.databaseQueries.get()).values[0]?.value ?? 0;
    const recordedBefore = randomUUID();
    let before = await statements();
    await trail.append(systemFork(under.audit.database), entry(first, recordedBefore, 0));
    const forOne = (await statements()) - before;

    const repeated = randomUUID();
    const batch = Array.from({ length: 40 }, (_, index) => entry(index % 2 === 0 ? second : first, randomUUID(), index + 1));
    batch.splice(10, 0, entry(first, recordedBefore, 99), entry(second, repeated, 100), entry(second, repeated, 101));
    before = await statements();
    const appended = await trail.appendAll(systemFork(under.audit.database), batch);

    // One more statement than for one entry: the second tenant's chain head moves too.
    expect((await statements()) - before).toBe(forOne + 1);
    expect(appended.map((created) => created?.resourceId ?? 'skipped').slice(9, 14)).toEqual([
      'e-10',
      'skipped',
      'e-100',
      'skipped',
      'e-11',
    ]);
    const firstChain = await under.entriesOf(first);
    expect(firstChain.map(({ sequence }) => sequence)).toEqual(Array.from({ length: 21 }, (_, index) => index + 1));
    expect(firstChain.map(({ resourceId }) => resourceId)).toEqual([
      'e-0',
      ...batch.filter((e) => e.tenantId === first && e.resourceId !== 'e-99').map((e) => e.resourceId),
    ]);
    expect((await under.entriesOf(second)).map(({ sequence }) => sequence)).toEqual(Array.from({ length: 21 }, (_, index) => index + 1));
    for (const tenantId of [first, second])
      expect((await under.data(callerOf([Role.Owner], tenantId), VERIFY)).verifyAuditTrail).toMatchObject({
        intact: true,
        checkedEntries: 21,
      });
  });

  it('takes ids in capitals as the same ids: a redelivery is recognised and the chain still verifies', async () => {
    const tenantId = randomUUID();
    const eventId = randomUUID();
    const { trail } = under.audit.services;
    const entry = (tenant: string, event: string, resourceId: string) => ({
      tenantId: tenant,
      eventId: event,
      occurredAt: new Date(),
      source: 'EVENT' as const,
      actorKind: 'SYSTEM' as const,
      actorId: null,
      action: 'workflow.updated',
      resourceType: 'workflow',
      resourceId,
      outcome: 'SUCCESS' as const,
      details: {},
      ipAddress: null,
      userAgent: null,
    });
    await trail.append(systemFork(under.audit.database), entry(tenantId, eventId, 'w-1'));

    const appended = await trail.appendAll(systemFork(under.audit.database), [
      entry(tenantId.toUpperCase(), eventId.toUpperCase(), 'w-1'),
      entry(tenantId.toUpperCase(), randomUUID().toUpperCase(), 'w-2'),
    ]);

    expect(appended.map((created) => created?.resourceId)).toEqual([undefined, 'w-2']);
    expect((await under.data(callerOf([Role.Owner], tenantId), VERIFY)).verifyAuditTrail).toMatchObject({
      intact: true,
      checkedEntries: 2,
    });
  });

  it('prunes entries past retention, except while a legal hold is in force, and the rest still verifies', async () => {
    const [kept, held] = [callerOf([Role.Admin]), callerOf([Role.Owner])];
    for (const caller of [kept, held]) {
      for (const occurredAt of [daysAgo(120), daysAgo(90), daysAgo(1)]) {
        await under.publish({ type: 'workflow.updated', tenantId: caller.tenantId, occurredAt, payload: { workflowId: 'w' } });
      }
      await under.waitForEntries(caller.tenantId, 3);
      expect((await under.data(caller, 'mutation { setAuditRetention(days: 30) { retentionDays } }')).setAuditRetention).toEqual({
        retentionDays: 30,
      });
    }
    const hold = await under.data(held, 'mutation { placeLegalHold(reason: "Litigation 2026-17") { legalHold { reason placedBy } } }');
    expect(hold.placeLegalHold.legalHold).toEqual({ reason: 'Litigation 2026-17', placedBy: held.userId });

    const pruned = await under.audit.services.pruneExpired();
    expect(pruned.filter(({ tenantId }) => [kept.tenantId, held.tenantId].includes(tenantId))).toEqual([
      { tenantId: kept.tenantId, deleted: 2 },
    ]);
    const remaining = (await under.entriesOf(kept.tenantId)).filter(({ action }) => action === 'workflow.updated');
    expect(remaining.map(({ sequence }) => sequence)).toEqual([3]);
    expect((await under.entriesOf(held.tenantId)).filter(({ action }) => action === 'workflow.updated')).toHaveLength(3);
    expect((await under.data(kept, VERIFY)).verifyAuditTrail).toMatchObject({ intact: true, firstBreak: null });

    await under.data(held, 'mutation { releaseLegalHold { legalHold { reason } } }');
    expect(await under.audit.services.pruneExpired()).toContainEqual({ tenantId: held.tenantId, deleted: 2 });
    expect((await under.data(held, VERIFY)).verifyAuditTrail).toMatchObject({ intact: true, firstBreak: null });
  });

  it('searches by actor, action, resource and time, newest first, a page at a time', async () => {
    const admin = callerOf([Role.Admin]);
    const actor = randomUUID();
    for (const [index, type] of ['workflow.created', 'workflow.updated', 'workflow.updated', 'schedule.created'].entries()) {
      await under.publish({
        type,
        tenantId: admin.tenantId,
        occurredAt: daysAgo(10 - index),
        payload: { workflowId: 'w-9', updatedBy: actor },
      });
    }
    await under.waitForEntries(admin.tenantId, 4);
    const first = (await under.data<{ auditEntries: Page }>(admin, SEARCH, { filter: { actor, resourceType: 'workflow' }, first: 2 }))
      .auditEntries;
    expect(first.edges.map(({ node }) => node.sequence)).toEqual([3, 2]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (
      await under.data<{ auditEntries: Page }>(admin, SEARCH, {
        filter: { actor, resourceType: 'workflow' },
        first: 2,
        after: first.pageInfo.endCursor,
      })
    ).auditEntries;
    expect(second.edges.map(({ node }) => node.sequence)).toEqual([1]);
    expect(second.pageInfo).toEqual({ hasNextPage: false, endCursor: second.edges[0]!.cursor });

    const updated = (
      await under.data<{ auditEntries: Page }>(admin, SEARCH, {
        filter: { action: 'workflow.updated', resourceId: 'w-9', from: daysAgo(8.5), to: daysAgo(0) },
      })
    ).auditEntries;
    expect(updated.edges.map(({ node }) => node.sequence)).toEqual([3]);
    expect(updated.edges[0]!.node.actor).toEqual({ kind: 'USER', id: actor });
  });

  it('reports sensitive access for a period and exports it as CSV and JSON lines, streamed from a signed link', async () => {
    const admin = callerOf([Role.Admin]);
    await under.data(admin, SET_CONTACT_POINTS, { input: { email: 'report@example.com' } });
    await under.data(admin, READ_CONTACT_POINTS);
    await under.data(admin, READ_CONTACT_POINTS);
    await under.waitForEntries(admin.tenantId, 3);
    const report = await under.data(
      admin,
      `query ($from: DateTime!, $to: DateTime!) {
        complianceReport(kind: SENSITIVE_ACCESS, from: $from, to: $to) { kind totalEntries entries(first: 1) { action } csvUrl jsonLinesUrl }
      }`,
      { from: daysAgo(1), to: daysAgo(-1) },
    );
    expect(report.complianceReport).toMatchObject({
      kind: 'SENSITIVE_ACCESS',
      totalEntries: 2,
      entries: [{ action: 'read.ContactPoints.email' }],
    });
    const onService = (link: string) => `${under.audit.url}${new URL(link).pathname}${new URL(link).search}`;

    const csv = await fetch(onService(report.complianceReport.csvUrl));
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await csv.text()).trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^sequence,id,occurredAt,recordedAt,source,actorKind,actorId,action,/);
    expect(lines.slice(1).map((line) => line.split(',')[7])).toEqual(['read.ContactPoints.email', 'read.ContactPoints.email']);

    const jsonLines = (await (await fetch(onService(report.complianceReport.jsonLinesUrl))).text())
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(jsonLines.map(({ source, actorId }) => ({ source, actorId }))).toEqual([
      { source: 'SENSITIVE_READ', actorId: admin.userId },
      { source: 'SENSITIVE_READ', actorId: admin.userId },
    ]);
    const forged = new URL(onService(report.complianceReport.csvUrl));
    forged.searchParams.set('token', `${forged.searchParams.get('token')!.split('.')[0]}.forged`);
    expect((await fetch(forged)).status).toBe(403);
  });

  it("reports an admin's actions and the changes of roles, each entry once, and nothing else", async () => {
    const admin = callerOf([Role.Admin]);
    await under.publish({
      type: 'member.role.changed',
      tenantId: admin.tenantId,
      payload: { userId: randomUUID(), changedBy: admin.userId },
    });
    await under.publish({ type: 'workflow.created', tenantId: admin.tenantId, payload: { workflowId: 'w-1', createdBy: admin.userId } });
    // Appended before the mutation: the gateway's record may travel by HTTP, a way of its own beside the bus.
    await under.waitForEntries(admin.tenantId, 2);
    await under.data(admin, 'mutation { setAuditRetention(days: 365) { retentionDays } }');
    await under.waitForEntries(admin.tenantId, 3);
    const report = async (kind: string) =>
      (
        await under.data<{ complianceReport: { totalEntries: number; entries: { action: string }[] } }>(
          admin,
          `query ($kind: ComplianceReportKind!, $from: DateTime!, $to: DateTime!) {
            complianceReport(kind: $kind, from: $from, to: $to) { totalEntries entries(first: 10) { action } }
          }`,
          { kind, from: daysAgo(1), to: daysAgo(-1) },
        )
      ).complianceReport;
    expect(await report('ADMIN_ACTIONS')).toEqual({
      totalEntries: 2,
      entries: [{ action: 'mutation.setAuditRetention' }, { action: 'member.role.changed' }],
    });
    expect(await report('ROLE_CHANGES')).toEqual({ totalEntries: 1, entries: [{ action: 'member.role.changed' }] });
    expect(await report('SENSITIVE_ACCESS')).toEqual({ totalEntries: 0, entries: [] });
  });

  it('lets only OWNERs and ADMINs read the trail or change its retention', async () => {
    for (const roles of [[Role.Member], [Role.Viewer]]) {
      const caller = callerOf(roles);
      expect((await under.send(caller, SEARCH)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await under.send(caller, VERIFY)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await under.send(caller, 'mutation { placeLegalHold(reason: "x") { retentionDays } }')).errors?.[0]?.extensions?.code).toBe(
        'FORBIDDEN',
      );
    }
    expect((await under.send(undefined, SEARCH)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const admin = callerOf([Role.Admin]);
    expect((await under.send(admin, 'mutation { setAuditRetention(days: 0) { retentionDays } }')).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'days',
    });
    expect((await under.data(admin, '{ auditSettings { retentionDays legalHold { reason } } }')).auditSettings).toEqual({
      retentionDays: null,
      legalHold: null,
    });
  });
});
