import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, signIdentity, STATEMENTS_HEADER, verifyAccessToken, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, postGraphQL, storageModes, TcpProxy, testEnvironment } from '@nexusflow/kit/testing';
import { FakeSendGrid, tokenInLink, type AcceptedEmail } from '../../../../test/support/fake-providers.ts';
import type { NotificationServices } from '../../notifications/src/context.ts';
import { subgraph as notifications } from '../../notifications/src/subgraph.ts';
import type { AuthConfig } from '../src/config.ts';
import type { AuthServices } from '../src/context.ts';
import { subgraph as auth } from '../src/subgraph.ts';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'staple battery horse correct';
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { __typename ... on AuthSession { accessToken refreshToken user { id emailVerified } } } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { __typename ... on AuthSession { accessToken refreshToken } } }`;
const ME = `{ me { id email emailVerified } }`;
const VERIFY_EMAIL = `mutation ($token: String!) {
  verifyEmail(token: $token) { __typename ... on EmailVerified { email } ... on InvalidToken { message } }
}`;
const RESEND = `mutation { resendVerificationEmail { __typename ... on VerificationEmailSent { email } ... on EmailAlreadyVerified { email } } }`;
const REQUEST_RESET = `mutation ($email: String!) { requestPasswordReset(email: $email) { message } }`;
const RESET = `mutation ($token: String!, $password: String!) {
  resetPassword(token: $token, newPassword: $password) {
    __typename
    ... on PasswordChanged { revokedSessionCount }
    ... on InvalidToken { message }
    ... on InvalidInput { fields { field problem } }
  }
}`;
const CHANGE = `mutation ($current: String!, $password: String!) {
  changePassword(currentPassword: $current, newPassword: $password) {
    __typename
    ... on PasswordChanged { revokedSessionCount }
    ... on IncorrectPassword { message }
    ... on InvalidInput { fields { field } }
  }
}`;
const REFRESH = `mutation ($token: String!) {
  refreshSession(refreshToken: $token) { __typename ... on InvalidRefreshToken { problem } }
}`;
const SESSION_REVOKED = `query ($id: ID!) { sessionRevoked(id: $id) }`;

type User = Extract<Identity, { kind: 'user' }>;

interface SignIn {
  identity: User & { sessionId: string };
  refreshToken: string;
}

/**
 * Email verification, password reset and change in the auth subgraph, asked as the gateway would, with its emails
 * going through the real notifications subgraph to a fake SendGrid, behind a proxy a test can take down.
 */
describe('Password lifecycle in the auth subgraph', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let subgraph: RunningSubgraph<AuthServices>;
    let config: AuthConfig;
    let notificationsProxy: TcpProxy;
    const sendgrid = new FakeSendGrid({ apiKey: 'SG.lifecycle' });
    const clock = { now: Date.now() };
    const cleanups: (() => Promise<void>)[] = [];

    async function environment(service: string): Promise<Record<string, string>> {
      const dataDir = await createTempDirectory(`password-lifecycle-${service}-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Record<string, string> = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent' };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, `password_lifecycle_${service}`);
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
      }
      return env;
    }

    beforeAll(async () => {
      await sendgrid.start();
      cleanups.push(() => sendgrid.close());
      const notificationsSubgraph: RunningSubgraph<NotificationServices> = await notifications.start({
        ...(await environment('notifications')),
        SENDGRID_API_URL: sendgrid.url,
        SENDGRID_API_KEY: 'SG.lifecycle',
        DELIVERY_BACKOFF_MS: '20',
      });
      cleanups.push(() => notificationsSubgraph.close());
      notificationsProxy = await TcpProxy.start(notificationsSubgraph.graphqlUrl);
      cleanups.push(() => notificationsProxy.close());
      const env = {
        ...(await environment('auth')),
        NOTIFICATIONS_URL: notificationsProxy.urlFor(notificationsSubgraph.graphqlUrl),
        APP_URL: 'https://app.nexusflow.test',
        REGISTRATIONS_PER_ADDRESS: '0',
        PASSWORD_RESETS_PER_ADDRESS: '0',
        // The tests send every email they wait for themselves: the poll must not race them.
        PENDING_EMAIL_POLL_INTERVAL_MS: '3600000',
      };
      config = auth.config(env);
      subgraph = await auth.start(env, { now: () => clock.now, clock: () => clock.now });
      cleanups.push(() => subgraph.close());
    });

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    async function ask(identity: Identity, query: string, variables: Record<string, unknown> = {}, clientAddress = '203.0.113.7') {
      return postGraphQL<Record<string, any>>(subgraph.graphqlUrl, query, {
        variables,
        headers: signIdentity(identity, subgraph.config.internalSecret, clock.now, clientAddress),
      });
    }

    async function signedIn(session: { __typename: string; accessToken: string; refreshToken: string }): Promise<SignIn> {
      if (session.__typename !== 'AuthSession') throw new Error(`not signed in: ${JSON.stringify(session)}`);
      const verified = await verifyAccessToken(session.accessToken, config.jwtSecret, clock.now);
      if (!verified.ok || verified.identity.kind !== 'user' || !verified.identity.sessionId) throw new Error('no session in the token');
      return { identity: verified.identity as SignIn['identity'], refreshToken: session.refreshToken };
    }

    async function register(): Promise<{ email: string; signIn: SignIn }> {
      const email = `lifecycle-${randomUUID()}@example.com`;
      const input = { email, password: PASSWORD, name: 'Ada', tenantName: 'Acme' };
      return { email, signIn: await signedIn((await ask(ANONYMOUS, REGISTER, { input })).data?.register) };
    }

    async function login(email: string, password = PASSWORD) {
      return (await ask(ANONYMOUS, LOGIN, { input: { email, password } })).data?.login as { __typename: string };
    }

    /** Lets the mailer finish what the request woke it for, then the email that reached SendGrid. */
    async function emailTo(address: string, subject: RegExp): Promise<AcceptedEmail> {
      await subgraph.services.mailer.idle();
      await expect.poll(() => sendgrid.accepted.some((email) => email.to === address && subject.test(email.subject))).toBe(true);
      return sendgrid.accepted.filter((email) => email.to === address && subject.test(email.subject)).at(-1)!;
    }

    const emailsTo = (address: string) => sendgrid.accepted.filter((email) => email.to === address);

    it('emails a new user a link that verifies their address once', async () => {
      const { email, signIn } = await register();
      expect((await ask(signIn.identity, ME)).data?.me).toMatchObject({ email, emailVerified: false });

      const verification = await emailTo(email, /Confirm your email/);
      expect(verification.body).toContain('https://app.nexusflow.test/verify-email?token=');
      expect(verification.body).toContain('within 24 hours');
      const token = tokenInLink(verification);

      expect((await ask(ANONYMOUS, VERIFY_EMAIL, { token })).data?.verifyEmail).toEqual({ __typename: 'EmailVerified', email });
      expect((await ask(signIn.identity, ME)).data?.me).toMatchObject({ emailVerified: true });
      expect((await ask(ANONYMOUS, VERIFY_EMAIL, { token })).data?.verifyEmail).toMatchObject({ __typename: 'InvalidToken' });
      expect((await ask(signIn.identity, RESEND)).data?.resendVerificationEmail).toEqual({ __typename: 'EmailAlreadyVerified', email });
    });

    it('refuses a verification link after it expires, and sends a new one on request, a few an hour at most', async () => {
      const { email, signIn } = await register();
      const expired = tokenInLink(await emailTo(email, /Confirm your email/));
      clock.now += 24 * 3600_000 + 1;

      expect((await ask(ANONYMOUS, VERIFY_EMAIL, { token: expired })).data?.verifyEmail).toMatchObject({ __typename: 'InvalidToken' });
      expect((await ask(signIn.identity, ME)).data?.me).toMatchObject({ emailVerified: false });

      expect((await ask(signIn.identity, RESEND)).data?.resendVerificationEmail).toEqual({ __typename: 'VerificationEmailSent', email });
      await subgraph.services.mailer.idle();
      await expect.poll(() => emailsTo(email).length).toBe(2);
      const fresh = tokenInLink(emailsTo(email).at(-1)!);
      expect((await ask(ANONYMOUS, VERIFY_EMAIL, { token: fresh })).data?.verifyEmail).toMatchObject({ __typename: 'EmailVerified' });

      const another = await register();
      for (let resent = 0; resent < 5; resent += 1) {
        expect((await ask(another.signIn.identity, RESEND)).errors).toBeUndefined();
      }
      const throttled = await ask(another.signIn.identity, RESEND);
      expect(throttled.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
    });

    it('answers a reset request for a registered and an unknown email alike, with the same statements, and emails only the account', async () => {
      const { email } = await register();
      const unknown = `nobody-${randomUUID()}@example.com`;

      const known = await ask(ANONYMOUS, REQUEST_RESET, { email: email.toUpperCase() });
      const stranger = await ask(ANONYMOUS, REQUEST_RESET, { email: unknown });

      expect(known.errors).toBeUndefined();
      expect(stranger.data).toEqual(known.data);
      expect(stranger.status).toBe(known.status);
      expect(Number(stranger.headers.get(STATEMENTS_HEADER))).toBe(Number(known.headers.get(STATEMENTS_HEADER)));
      const reset = await emailTo(email, /Reset your NexusFlow password/);
      expect(reset.body).toContain('https://app.nexusflow.test/reset-password?token=');
      expect(emailsTo(unknown)).toEqual([]);
    });

    it('resets the password with the emailed link once, ending every session and verifying the email', async () => {
      const { email, signIn: first } = await register();
      const second = await signedIn((await ask(ANONYMOUS, LOGIN, { input: { email, password: PASSWORD } })).data?.login);
      await ask(ANONYMOUS, REQUEST_RESET, { email });
      const token = tokenInLink(await emailTo(email, /Reset your NexusFlow password/));

      const weak = (await ask(ANONYMOUS, RESET, { token, password: 'short' })).data?.resetPassword;
      expect(weak).toMatchObject({ __typename: 'InvalidInput', fields: [{ field: 'newPassword' }] });
      expect(await login(email)).toMatchObject({ __typename: 'AuthSession' });

      const reset = (await ask(ANONYMOUS, RESET, { token, password: NEW_PASSWORD })).data?.resetPassword;
      expect(reset).toEqual({ __typename: 'PasswordChanged', revokedSessionCount: 3 });

      expect(await login(email)).toMatchObject({ __typename: 'InvalidCredentials' });
      expect(await login(email, NEW_PASSWORD)).toMatchObject({ __typename: 'AuthSession' });
      for (const signIn of [first, second]) {
        expect((await ask(ANONYMOUS, SESSION_REVOKED, { id: signIn.identity.sessionId })).data?.sessionRevoked).toBe(true);
        expect((await ask(ANONYMOUS, REFRESH, { token: signIn.refreshToken })).data?.refreshSession).toEqual({
          __typename: 'InvalidRefreshToken',
          problem: 'REVOKED',
        });
      }
      const fresh = await signedIn((await ask(ANONYMOUS, LOGIN, { input: { email, password: NEW_PASSWORD } })).data?.login);
      expect((await ask(fresh.identity, ME)).data?.me).toMatchObject({ emailVerified: true });
      expect((await ask(ANONYMOUS, RESET, { token, password: 'yet another password' })).data?.resetPassword).toMatchObject({
        __typename: 'InvalidToken',
      });
      expect(await login(email, NEW_PASSWORD)).toMatchObject({ __typename: 'AuthSession' });
    });

    it('refuses a reset link after an hour, or a verification link used for a reset, changing nothing', async () => {
      const { email } = await register();
      const verification = tokenInLink(await emailTo(email, /Confirm your email/));
      await ask(ANONYMOUS, REQUEST_RESET, { email });
      const token = tokenInLink(await emailTo(email, /Reset your NexusFlow password/));

      expect((await ask(ANONYMOUS, RESET, { token: verification, password: NEW_PASSWORD })).data?.resetPassword).toMatchObject({
        __typename: 'InvalidToken',
      });
      expect((await ask(ANONYMOUS, RESET, { token: 'made-up', password: NEW_PASSWORD })).data?.resetPassword).toMatchObject({
        __typename: 'InvalidToken',
      });
      clock.now += 3600_000 + 1;
      expect((await ask(ANONYMOUS, RESET, { token, password: NEW_PASSWORD })).data?.resetPassword).toMatchObject({
        __typename: 'InvalidToken',
      });
      expect(await login(email)).toMatchObject({ __typename: 'AuthSession' });
    });

    it('limits reset requests per email, registered or not, with the same refusal', async () => {
      for (const email of [(await register()).email, `nobody-${randomUUID()}@example.com`]) {
        for (let request = 0; request < 3; request += 1) expect((await ask(ANONYMOUS, REQUEST_RESET, { email })).errors).toBeUndefined();
        const refused = await ask(ANONYMOUS, REQUEST_RESET, { email });
        expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 3600 });
      }
    });

    it('changes the password of the signed-in user, keeping their session and ending the others', async () => {
      const { email, signIn: current } = await register();
      const other = await signedIn((await ask(ANONYMOUS, LOGIN, { input: { email, password: PASSWORD } })).data?.login);

      const wrong = (await ask(current.identity, CHANGE, { current: 'not my password', password: NEW_PASSWORD })).data?.changePassword;
      expect(wrong).toEqual({ __typename: 'IncorrectPassword', message: 'The current password is incorrect' });
      const weak = (await ask(current.identity, CHANGE, { current: PASSWORD, password: 'short' })).data?.changePassword;
      expect(weak).toMatchObject({ __typename: 'InvalidInput', fields: [{ field: 'newPassword' }] });

      const changed = (await ask(current.identity, CHANGE, { current: PASSWORD, password: NEW_PASSWORD })).data?.changePassword;
      expect(changed).toEqual({ __typename: 'PasswordChanged', revokedSessionCount: 1 });
      expect((await ask(ANONYMOUS, SESSION_REVOKED, { id: other.identity.sessionId })).data?.sessionRevoked).toBe(true);
      expect((await ask(ANONYMOUS, SESSION_REVOKED, { id: current.identity.sessionId })).data?.sessionRevoked).toBe(false);
      expect(await login(email)).toMatchObject({ __typename: 'InvalidCredentials' });
      expect(await login(email, NEW_PASSWORD)).toMatchObject({ __typename: 'AuthSession' });
      expect((await ask(ANONYMOUS, CHANGE, { current: NEW_PASSWORD, password: PASSWORD })).errors?.[0]?.extensions?.code).toBe(
        'UNAUTHENTICATED',
      );
    });

    it('counts wrong current passwords as failed sign-ins, refusing even the right one once they are used up', async () => {
      const { signIn } = await register();
      for (let attempt = 0; attempt < config.throttling.loginsPerAccount.allowance; attempt += 1) {
        const wrong = (await ask(signIn.identity, CHANGE, { current: `guess ${attempt}`, password: NEW_PASSWORD })).data?.changePassword;
        expect(wrong).toMatchObject({ __typename: 'IncorrectPassword' });
      }
      const refused = await ask(signIn.identity, CHANGE, { current: PASSWORD, password: NEW_PASSWORD });
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    });

    it('sends an email asked for while notifications is down once it is back, and the request does not wait for it', async () => {
      const { email } = await register();
      await emailTo(email, /Confirm your email/);
      notificationsProxy.takeDown();
      try {
        const answer = await ask(ANONYMOUS, REQUEST_RESET, { email });
        expect(answer.errors).toBeUndefined();
        await subgraph.services.mailer.idle();
      } finally {
        notificationsProxy.bringUp();
      }
      expect(emailsTo(email)).toHaveLength(1);

      clock.now += config.passwordLifecycle.pendingEmailBackoffMs;
      subgraph.services.mailer.wake();
      const token = tokenInLink(await emailTo(email, /Reset your NexusFlow password/));
      expect((await ask(ANONYMOUS, RESET, { token, password: NEW_PASSWORD })).data?.resetPassword).toMatchObject({
        __typename: 'PasswordChanged',
      });
    });
  });
});
