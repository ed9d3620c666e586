import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, signIdentity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes, TcpProxy } from '@nexusflow/kit/testing';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import type { AuthServices } from '../../subgraphs/nexusflow/auth/src/context.ts';
import { subgraph as authSubgraph } from '../../subgraphs/nexusflow/auth/src/subgraph.ts';
import type { NotificationServices } from '../../subgraphs/nexusflow/notifications/src/context.ts';
import { subgraph as notificationsSubgraph } from '../../subgraphs/nexusflow/notifications/src/subgraph.ts';
import { FakeSendGrid, tokenInLink, type AcceptedEmail } from '../support/fake-providers.ts';
import { errorCodes } from '../support/requests.ts';
import { CLOSED_PORT_URL, routesFor, TestServices } from '../support/services.ts';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'staple battery horse correct';
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { __typename ... on AuthSession { accessToken user { id emailVerified } } } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { __typename ... on AuthSession { accessToken } } }`;
const ME = '{ me { id email emailVerified } }';
const VERIFY_EMAIL = `mutation ($token: String!) {
  verifyEmail(token: $token) { __typename ... on EmailVerified { email } ... on InvalidToken { message } }
}`;
const RESEND = `mutation { resendVerificationEmail { __typename ... on VerificationEmailSent { email } ... on EmailAlreadyVerified { email } } }`;
const REQUEST_RESET = `mutation ($email: String!) { requestPasswordReset(email: $email) { message } }`;
const RESET = `mutation ($token: String!, $password: String!) {
  resetPassword(token: $token, newPassword: $password) {
    __typename ... on PasswordChanged { revokedSessionCount } ... on InvalidToken { message } ... on InvalidInput { fields { field } }
  }
}`;
const CHANGE = `mutation ($current: String!, $password: String!) {
  changePassword(currentPassword: $current, newPassword: $password) {
    __typename ... on PasswordChanged { revokedSessionCount } ... on IncorrectPassword { message } ... on InvalidInput { fields { field } }
  }
}`;
const DELIVER = `mutation ($input: TransactionalEmailInput!) { deliverTransactionalEmail(input: $input) { queued } }`;

/**
 * Email verification and password reset through the gateway, with auth's emails going through the notifications
 * service to a fake SendGrid, and notifications behind a proxy that a test takes down.
 */
describe('password lifecycle through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    const sendgrid = new FakeSendGrid({ apiKey: 'SG.stack' });
    let services: TestServices;
    let gateway: RunningGateway;
    let auth: RunningSubgraph<AuthServices>;
    let notifications: RunningSubgraph<NotificationServices>;
    let notificationsForAuth: TcpProxy;

    beforeAll(async () => {
      await sendgrid.start();
      services = await TestServices.create(mode, `password_lifecycle_${mode}`);
      // Transactional emails do not ask auth anything.
      notifications = await services.start(notificationsSubgraph, {
        ...(await services.environmentFor('notifications')),
        AUTH_URL: CLOSED_PORT_URL,
        SENDGRID_API_URL: sendgrid.url,
        SENDGRID_API_KEY: 'SG.stack',
        DELIVERY_BACKOFF_MS: '20',
      });
      notificationsForAuth = await TcpProxy.start(notifications.graphqlUrl);
      services.onClose(() => notificationsForAuth.close());
      auth = await services.start(authSubgraph, {
        ...(await services.environmentFor('auth')),
        NOTIFICATIONS_URL: notificationsForAuth.urlFor(notifications.graphqlUrl),
        REGISTRATIONS_PER_ADDRESS: '1000',
        PENDING_EMAIL_BACKOFF_MS: '1',
      });
      gateway = await services.startGateway('nexusflow', routesFor('nexusflow', { auth, notifications }));
    });

    afterAll(async () => {
      await services?.close();
      await sendgrid.close();
    });

    const send = (document: string, variables: Record<string, unknown> = {}, token?: string) =>
      postGraphQL<Record<string, any>>(gateway.graphqlUrl, document, { variables, ...(token ? { token } : {}) });

    async function register(label: string) {
      const email = `${label}-${randomUUID()}@example.com`;
      const registered = (await send(REGISTER, { input: { email, password: PASSWORD, name: 'Grace', tenantName: 'Hopper Labs' } })).data
        ?.register;
      if (registered?.__typename !== 'AuthSession') throw new Error(`registration failed: ${JSON.stringify(registered)}`);
      return { email, token: registered.accessToken as string, emailVerified: registered.user.emailVerified as boolean };
    }

    async function emailTo(address: string, subject: RegExp): Promise<AcceptedEmail> {
      const matching = () => sendgrid.accepted.filter((email) => email.to === address && subject.test(email.subject));
      await expect.poll(() => matching().length).toBeGreaterThan(0);
      return matching().at(-1)!;
    }

    it('verifies a new account by its emailed link, and resets a forgotten password by email while notifications was down, ending the old session', async () => {
      const account = await register('forgetful');
      expect(account.emailVerified).toBe(false);

      const verification = await emailTo(account.email, /Confirm your email/);
      expect((await send(VERIFY_EMAIL, { token: tokenInLink(verification) })).data?.verifyEmail).toEqual({
        __typename: 'EmailVerified',
        email: account.email,
      });
      expect((await send(ME, {}, account.token)).data?.me).toMatchObject({ email: account.email, emailVerified: true });

      notificationsForAuth.takeDown();
      const requested = await send(REQUEST_RESET, { email: account.email });
      expect(requested.errors).toBeUndefined();
      await auth.services.mailer.idle();
      expect(sendgrid.accepted.filter((email) => email.to === account.email)).toHaveLength(1);
      notificationsForAuth.bringUp();
      // The failed attempt's backoff (1 ms here) has passed: the next pass sends it.
      auth.services.mailer.wake();
      await auth.services.mailer.idle();
      const reset = await emailTo(account.email, /Reset your NexusFlow password/);

      expect((await send(RESET, { token: tokenInLink(reset), password: NEW_PASSWORD })).data?.resetPassword).toEqual({
        __typename: 'PasswordChanged',
        revokedSessionCount: 1,
      });
      await expect.poll(async () => (await send(ME, {}, account.token)).status, { timeout: 5000 }).toBe(401);
      const refused = await send(ME, {}, account.token);
      expect(errorCodes(refused)).toEqual(['UNAUTHENTICATED']);
      expect(refused.errors?.[0]?.message).toBe('Session has been revoked; sign in again');
      expect((await send(LOGIN, { input: { email: account.email, password: PASSWORD } })).data?.login.__typename).toBe(
        'InvalidCredentials',
      );
      expect((await send(LOGIN, { input: { email: account.email, password: NEW_PASSWORD } })).data?.login.__typename).toBe('AuthSession');
    });

    it('answers a reset request for a registered and an unknown email identically', async () => {
      const account = await register('known');
      const known = await send(REQUEST_RESET, { email: account.email });
      const unknown = await send(REQUEST_RESET, { email: `unknown-${randomUUID()}@example.com` });

      expect(unknown.status).toBe(known.status);
      expect({ data: unknown.data, errors: unknown.errors }).toEqual({ data: known.data, errors: known.errors });
      expect(known.data?.requestPasswordReset.message).toMatch(/^If an account with this email exists/);
    });

    it('sends a signed-in user a new verification link, and changes their password only with the current one', async () => {
      const account = await register('changing');
      await emailTo(account.email, /Confirm your email/);

      expect((await send(RESEND, {}, account.token)).data?.resendVerificationEmail).toEqual({
        __typename: 'VerificationEmailSent',
        email: account.email,
      });
      await expect.poll(() => sendgrid.accepted.filter((email) => email.to === account.email).length).toBe(2);

      const wrong = await send(CHANGE, { current: 'not the password', password: NEW_PASSWORD }, account.token);
      expect(wrong.data?.changePassword.__typename).toBe('IncorrectPassword');
      const changed = await send(CHANGE, { current: PASSWORD, password: NEW_PASSWORD }, account.token);
      expect(changed.data?.changePassword).toEqual({ __typename: 'PasswordChanged', revokedSessionCount: 0 });
      expect((await send(ME, {}, account.token)).data?.me.email).toBe(account.email);
      expect((await send(LOGIN, { input: { email: account.email, password: NEW_PASSWORD } })).data?.login.__typename).toBe('AuthSession');
    });

    it('keeps deliverTransactionalEmail for services: the gateway does not know it, and notifications refuses a forwarded call', async () => {
      const input = { to: 'victim@example.com', template: 'auth.reset-password', variables: { link: 'https://evil.example' } };
      const throughGateway = await send(DELIVER, { input });
      // The field and its input type are both unknown to the API schema.
      expect(new Set(errorCodes(throughGateway))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
      expect(throughGateway.data).toBeUndefined();

      const forwarded = await postGraphQL(notifications.graphqlUrl, DELIVER, {
        variables: { input },
        headers: signIdentity(ANONYMOUS, notifications.config.internalSecret, Date.now(), '203.0.113.7'),
      });
      expect(errorCodes(forwarded)).toEqual(['FORBIDDEN']);
      expect(sendgrid.accepted.filter((email) => email.to === 'victim@example.com')).toEqual([]);
    });
  });
});
