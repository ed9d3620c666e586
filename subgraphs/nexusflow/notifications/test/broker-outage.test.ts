import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, signIdentity, systemFork, type RunningSubgraph } from '@nexusflow/kit';
import { createTestDatabase, postGraphQL, TcpProxy, testEnvironment } from '@nexusflow/kit/testing';
import { FakeSendGrid } from '../../../../test/support/fake-providers.ts';
import type { NotificationServices } from '../src/context.ts';
import { Delivery } from '../src/entities/delivery.entity.ts';
import { subgraph as notifications } from '../src/subgraph.ts';

const DELIVER = `mutation ($input: TransactionalEmailInput!) { deliverTransactionalEmail(input: $input) { queued } }`;

/**
 * Deliveries are recorded before they are queued: one recorded while RabbitMQ is unreachable is answered at once and
 * sent once the broker is back, and a delivery queued twice is sent once. Needs a broker to take away.
 */
describe.runIf(testEnvironment.amqpUrl && testEnvironment.postgresUrl)('notification deliveries while the broker is away', () => {
  const sendgrid = new FakeSendGrid({ apiKey: 'SG.outage' });
  const cleanups: (() => Promise<void>)[] = [];
  let broker: TcpProxy;
  let subgraph: RunningSubgraph<NotificationServices>;

  beforeAll(async () => {
    await sendgrid.start();
    cleanups.push(() => sendgrid.close());
    broker = await TcpProxy.start(testEnvironment.amqpUrl);
    cleanups.push(() => broker.close());
    const database = await createTestDatabase(testEnvironment.postgresUrl!, 'notifications_broker_outage');
    cleanups.push(database.drop);
    subgraph = await notifications.start({
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      AMQP_URL: broker.urlFor(testEnvironment.amqpUrl!),
      AMQP_NAMESPACE: `nf-test-notifications-outage-${randomBytes(4).toString('hex')}`,
      SENDGRID_API_URL: sendgrid.url,
      SENDGRID_API_KEY: 'SG.outage',
    });
    cleanups.push(() => subgraph.close());
  });

  afterAll(async () => {
    broker?.bringUp();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const deliver = (to: string, idempotencyKey: string) =>
    postGraphQL<{ deliverTransactionalEmail: { queued: boolean } }>(subgraph.graphqlUrl, DELIVER, {
      variables: { input: { to, template: 'auth.verify-email', variables: { name: 'Ada', link: 'https://x.test/v' }, idempotencyKey } },
      headers: signIdentity(ANONYMOUS, subgraph.config.internalSecret),
    });
  const sentTo = (to: string) => sendgrid.accepted.filter((email) => email.to === to).length;
  const stored = (idempotencyKey: string) => systemFork(subgraph.database).findOneOrFail(Delivery, { idempotencyKey });

  it('answers a delivery recorded while the broker is down at once, and sends it once the broker is back', async () => {
    broker.takeDown();
    const started = performance.now();
    expect((await deliver('outage@example.com', 'outage-1')).data).toEqual({ deliverTransactionalEmail: { queued: true } });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await stored('outage-1')).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect(sentTo('outage@example.com')).toBe(0);

    broker.bringUp();
    await expect.poll(() => sentTo('outage@example.com'), { timeout: 15_000, interval: 50 }).toBe(1);
    await expect.poll(async () => (await stored('outage-1')).status).toBe('SENT');
    expect((await stored('outage-1')).attempts).toBe(1);
  });

  it('sends a delivery queued several times at once only once', async () => {
    expect((await deliver('twice@example.com', 'twice-1')).data).toEqual({ deliverTransactionalEmail: { queued: true } });
    const { id } = await stored('twice-1');
    await Promise.all([1, 2, 3].map(() => subgraph.services.notifications.deliver(systemFork(subgraph.database), { deliveryId: id })));
    await expect.poll(async () => (await stored('twice-1')).status).toBe('SENT');
    expect(sentTo('twice@example.com')).toBe(1);
    expect((await stored('twice-1')).attempts).toBe(1);
  });
});
