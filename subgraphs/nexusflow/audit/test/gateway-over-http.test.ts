import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, Role, signIdentity } from '@nexusflow/kit';
import { postGraphQL, storageModes, TcpProxy } from '@nexusflow/kit/testing';
import type { RunningGateway } from '../../../../gateway/src/gateway.ts';
import { LossyProxy } from '../../../../test/support/lossy-proxy.ts';
import { routesFor } from '../../../../test/support/services.ts';
import { AuditUnderTest, callerOf } from './support/audit-under-test.ts';

const PLACE_HOLD = 'mutation PlaceHold($reason: String!) { placeLegalHold(reason: $reason) { legalHold { reason } } }';
const SET_CONTACT_POINTS = `mutation SaveContactPoints($input: ContactPointsInput!) { setContactPoints(input: $input) { email } }`;
const RECORD = `mutation RecordGatewayAuditRecords($records: [GatewayAuditRecordInput!]!) {
  recordGatewayAuditRecords(records: $records) { appended alreadyRecorded ignored }
}`;

/** A gateway's counter or gauge, summed over its labels' values matching `labels`. */
async function metricOf(gateway: RunningGateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await gateway.metrics.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((value) => Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted))
    .reduce((sum, { value }) => sum + value, 0);
}

/**
 * A gateway without AMQP_URL, as under `npm start`, where it runs in a process of its own: its records of mutations
 * reach the audit subgraph in calls to `recordGatewayAuditRecords`, retried until confirmed, appended once each.
 */
describe.each(storageModes(['postgres', 'amqp']))('gateway records delivered to audit over HTTP on $storage', ({ mode }) => {
  let under: AuditUnderTest;

  /** One more gateway without a bus, reaching audit at `auditUrl` (a proxy in front of it). */
  const gatewayReachingAuditAt = (auditUrl: string) =>
    under.services.startGateway(
      'nexusflow',
      { ...routesFor('nexusflow', under.running), SUBGRAPH_AUDIT_URL: auditUrl },
      { AMQP_URL: undefined },
    );

  beforeAll(async () => {
    under = await AuditUnderTest.start(mode, `audit_http_${mode}`, ['notifications'], { AMQP_URL: undefined });
  });

  afterAll(async () => {
    await under?.close();
  });

  it('turns a mutation through the gateway into one entry, delivered over HTTP and not on a bus', async () => {
    const admin = callerOf([Role.Admin]);
    await under.data(admin, PLACE_HOLD, { reason: 'litigation' });

    const [entry, ...more] = await under.waitForEntries(admin.tenantId, 1);
    expect(more).toEqual([]);
    expect(entry).toMatchObject({
      sequence: 1,
      source: 'MUTATION',
      actorId: admin.userId,
      action: 'mutation.placeLegalHold',
      outcome: 'SUCCESS',
      eventId: expect.any(String),
      details: { operationName: 'PlaceHold', variables: { reason: 'litigation' } },
    });
    await expect.poll(() => metricOf(under.gateway, 'gateway_audit_records_buffered')).toBe(0);
    expect(await metricOf(under.gateway, 'gateway_audit_records_delivered_total', { transport: 'http' })).toBeGreaterThanOrEqual(1);
    expect(await metricOf(under.gateway, 'gateway_audit_records_delivered_total', { transport: 'bus' })).toBe(0);
  });

  it('appends a delivery retried after its reply was lost only once', async () => {
    const lossy = await new LossyProxy(under.audit.graphqlUrl).start();
    under.services.onClose(() => lossy.close());
    const gateway = await gatewayReachingAuditAt(lossy.url);
    lossy.loseAnswers('RecordGatewayAuditRecords', 1);
    const admin = callerOf([Role.Admin]);

    const response = await under.send(admin, PLACE_HOLD, { reason: 'lost reply' }, {}, gateway);
    expect(response.errors).toBeUndefined();

    // Confirmed only by the second call: the first was appended, but the gateway never heard so.
    await expect
      .poll(() => metricOf(gateway, 'gateway_audit_records_delivered_total', { transport: 'http' }), { timeout: 20_000, interval: 50 })
      .toBe(1);
    expect(lossy.lost).toEqual(['RecordGatewayAuditRecords']);
    expect(await metricOf(gateway, 'gateway_audit_delivery_failures_total', { transport: 'http' })).toBe(1);
    const entries = await under.entriesOf(admin.tenantId);
    expect(entries.map(({ action, details }) => [action, details.variables])).toEqual([
      ['mutation.placeLegalHold', { reason: 'lost reply' }],
    ]);
  });

  it('keeps the records of mutations answered while audit is unreachable, and delivers them in order once it is back', async () => {
    const proxy = await TcpProxy.start(under.audit.graphqlUrl);
    under.services.onClose(() => proxy.close());
    const gateway = await gatewayReachingAuditAt(proxy.urlFor(under.audit.graphqlUrl));
    const member = callerOf([Role.Member]);

    proxy.takeDown();
    for (const email of ['first@example.com', 'second@example.com']) {
      const response = await under.send(member, SET_CONTACT_POINTS, { input: { email } }, {}, gateway);
      expect(response.errors).toBeUndefined();
    }
    await expect
      .poll(() => metricOf(gateway, 'gateway_audit_delivery_failures_total', { transport: 'http' }), { timeout: 20_000, interval: 50 })
      .toBeGreaterThanOrEqual(1);
    expect(await metricOf(gateway, 'gateway_audit_records_buffered')).toBe(2);
    expect(await under.entriesOf(member.tenantId)).toEqual([]);
    proxy.bringUp();

    const entries = await under.waitForEntries(member.tenantId, 2);
    expect(entries.map(({ action, outcome, details }) => [action, outcome, details.variables])).toEqual([
      ['mutation.setContactPoints', 'SUCCESS', { input: { email: 'first@example.com' } }],
      ['mutation.setContactPoints', 'SUCCESS', { input: { email: 'second@example.com' } }],
    ]);
    await expect.poll(() => metricOf(gateway, 'gateway_audit_records_buffered')).toBe(0);
  });

  it('takes records from services only: the gateway does not expose the mutation, and audit refuses one it forwarded', async () => {
    const admin = callerOf([Role.Admin]);
    const record = {
      id: randomUUID(),
      tenantId: admin.tenantId,
      occurredAt: new Date().toISOString(),
      source: 'MUTATION',
      actor: { kind: 'USER', id: admin.userId },
      roles: ['ADMIN'],
      action: 'mutation.forged',
      outcome: 'SUCCESS',
      errorCodes: [],
      fields: ['forged'],
      variables: {},
    };
    const throughGateway = await under.send(admin, RECORD, { records: [record] });
    expect(throughGateway.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const asForwarded = await postGraphQL(under.audit.graphqlUrl, RECORD, {
      variables: { records: [record] },
      headers: signIdentity(ANONYMOUS, under.audit.config.internalSecret, Date.now(), '203.0.113.9'),
    });
    expect(asForwarded.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const asService = () =>
      postGraphQL<{ recordGatewayAuditRecords: unknown }>(under.audit.graphqlUrl, RECORD, {
        variables: { records: [record, { ...record, id: randomUUID(), tenantId: 'no-tenant' }] },
        headers: signIdentity(ANONYMOUS, under.audit.config.internalSecret),
      });
    expect((await asService()).data?.recordGatewayAuditRecords).toEqual({ appended: 1, alreadyRecorded: 0, ignored: 1 });
    expect((await asService()).data?.recordGatewayAuditRecords).toEqual({ appended: 0, alreadyRecorded: 1, ignored: 1 });
    expect((await under.entriesOf(admin.tenantId)).map(({ action }) => action)).toEqual(['mutation.forged']);
  });
});
