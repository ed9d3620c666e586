import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { TcpProxy, testEnvironment } from '@nexusflow/kit/testing';
import { AuditUnderTest, callerOf } from './support/audit-under-test.ts';

const PLACE_HOLD = 'mutation PlaceHold($reason: String!) { placeLegalHold(reason: $reason) { legalHold { reason } } }';

/**
 * The gateway's records of mutations reach the trail through RabbitMQ; while it is unreachable they wait in the
 * gateway's bounded buffer, and the clients' mutations are answered as ever. Needs a broker to take away.
 */
describe.runIf(testEnvironment.amqpUrl && testEnvironment.postgresUrl)('audit records while the event bus is unreachable', () => {
  let broker: TcpProxy;
  let under: AuditUnderTest;

  beforeAll(async () => {
    broker = await TcpProxy.start(testEnvironment.amqpUrl);
    under = await AuditUnderTest.start('postgres', 'audit_gateway_outage', [], {
      AMQP_URL: broker.urlFor(testEnvironment.amqpUrl!),
      AUDIT_BUFFER_SIZE: '2',
    });
  });

  afterAll(async () => {
    await under?.close();
    await broker?.close();
  });

  it('answers mutations as ever, keeps the newest records its buffer holds, drops the oldest and delivers the rest once it is back', async () => {
    const admin = callerOf([Role.Admin]);
    await under.data(admin, PLACE_HOLD, { reason: 'before the outage' });
    await under.waitForEntries(admin.tenantId, 1);

    broker.takeDown();
    for (const reason of ['first', 'second', 'third']) {
      expect((await under.data(admin, PLACE_HOLD, { reason })).placeLegalHold).toEqual({ legalHold: { reason } });
    }
    // The first record's publication gives up (after the bus's publish timeout); the two after it fill the buffer.
    const metric = (name: string) => under.gateway.metrics.registry.getSingleMetricAsString(name);
    await expect.poll(() => metric('gateway_audit_records_dropped_total'), { timeout: 20_000, interval: 100 }).toMatch(/ 1$/m);
    expect(await metric('gateway_audit_records_buffered')).toMatch(/ 2$/m);
    broker.bringUp();

    const entries = await under.waitForEntries(admin.tenantId, 3);
    expect(entries.map(({ details }) => (details.variables as { reason: string }).reason)).toEqual([
      'before the outage',
      'second',
      'third',
    ]);
  });
});
