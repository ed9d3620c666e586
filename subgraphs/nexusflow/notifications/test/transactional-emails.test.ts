import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, signIdentity, systemFork, type Environment, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, postGraphQL, storageModes, testEnvironment } from '@nexusflow/kit/testing';
import { FakeSendGrid } from '../../../../test/support/fake-providers.ts';
import type { NotificationServices } from '../src/context.ts';
import { Delivery } from '../src/entities/delivery.entity.ts';
import { subgraph as notifications } from '../src/subgraph.ts';

const DELIVER = `mutation ($input: TransactionalEmailInput!) { deliverTransactionalEmail(input: $input) { queued } }`;
const LINK = 'https://app.nexusflow.test/reset-password?token=secret-token-value';

/** deliverTransactionalEmail, called as another service calls it: signed, with no client address. */
describe('Transactional emails in the notifications subgraph', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    const sendgrid = new FakeSendGrid({ apiKey: 'SG.transactional' });
    const cleanups: (() => Promise<void>)[] = [];
    let withEmail: RunningSubgraph<NotificationServices>;
    let withoutEmail: RunningSubgraph<NotificationServices>;
    const infoLogs: unknown[][] = [];

    async function start(label: string, extra: Environment): Promise<RunningSubgraph<NotificationServices>> {
      const dataDir = await createTempDirectory(`transactional-${label}-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Environment = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', DELIVERY_BACKOFF_MS: '20', ...extra };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, `transactional_${label}`);
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
      }
      const running = await notifications.start(env);
      cleanups.push(() => running.close());
      return running;
    }

    beforeAll(async () => {
      await sendgrid.start();
      cleanups.push(() => sendgrid.close());
      withEmail = await start('on', { SENDGRID_API_URL: sendgrid.url, SENDGRID_API_KEY: 'SG.transactional' });
      withoutEmail = await start('off', {});
      const logInfo = withoutEmail.logger.info.bind(withoutEmail.logger);
      withoutEmail.logger.info = (...args: Parameters<typeof logInfo>) => {
        infoLogs.push(args);
        return logInfo(...args);
      };
    });

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    const deliver = (subgraph: RunningSubgraph<NotificationServices>, input: Record<string, unknown>, clientAddress?: string) =>
      postGraphQL<{ deliverTransactionalEmail: { queued: boolean } }>(subgraph.graphqlUrl, DELIVER, {
        variables: { input },
        headers: signIdentity(ANONYMOUS, subgraph.config.internalSecret, Date.now(), clientAddress),
      });

    it('emails an address the built-in wording of the template, once per idempotency key, and keeps no copy of the text', async () => {
      const input = {
        to: 'new.person@example.com',
        template: 'auth.reset-password',
        variables: { name: 'Ada', link: LINK, expiresInHours: 1 },
        idempotencyKey: 'pending-email-1',
      };
      expect((await deliver(withEmail, input)).data).toEqual({ deliverTransactionalEmail: { queued: true } });
      expect((await deliver(withEmail, input)).data).toEqual({ deliverTransactionalEmail: { queued: true } });

      await expect.poll(() => sendgrid.accepted.filter((email) => email.to === 'new.person@example.com').length).toBe(1);
      const [email] = sendgrid.accepted.filter((accepted) => accepted.to === 'new.person@example.com');
      expect(email).toMatchObject({ subject: 'Reset your NexusFlow password', idempotencyKey: expect.any(String) });
      expect(email!.body).toContain('Hello Ada,');
      expect(email!.body).toContain(LINK);
      expect(email!.body).toContain('within 1 hour(s)');
      // SendGrid has it before the delivery is recorded as sent.
      const stored = () => systemFork(withEmail.database).findOneOrFail(Delivery, { idempotencyKey: 'pending-email-1' });
      await expect.poll(async () => (await stored()).status).toBe('SENT');
      expect(await stored()).toMatchObject({ notificationId: null, tenantId: null, body: '' });
    });

    it('refuses an unknown template, an address that is none, and a call the gateway forwarded', async () => {
      const unknown = await deliver(withEmail, { to: 'a@example.com', template: 'made.up' });
      expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'template' });
      const notAnAddress = await deliver(withEmail, { to: 'not an address', template: 'auth.verify-email' });
      expect(notAnAddress.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'to' });
      const forwarded = await deliver(withEmail, { to: 'a@example.com', template: 'auth.verify-email' }, '198.51.100.4');
      expect(forwarded.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });

    it('sends nothing while the email channel is off, and logs the template but never the link', async () => {
      const answer = await deliver(withoutEmail, {
        to: 'dev@example.com',
        template: 'auth.verify-email',
        variables: { name: 'Dev', link: LINK, expiresInHours: 24 },
      });
      expect(answer.data).toEqual({ deliverTransactionalEmail: { queued: false } });
      const logged = JSON.stringify(infoLogs);
      expect(logged).toContain('auth.verify-email');
      expect(logged).toContain('SENDGRID_API_KEY');
      expect(logged).not.toContain('secret-token-value');
      expect(await systemFork(withoutEmail.database).count(Delivery, {})).toBe(0);
    });
  });
});
