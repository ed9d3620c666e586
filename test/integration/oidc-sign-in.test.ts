import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageModes } from '@nexusflow/kit/testing';
import { FakeOpenIdProvider } from '../../subgraphs/nexusflow/auth/test/support/fake-identity-providers.ts';
import { ask } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';

const CALLBACK = 'https://app.example/auth/callback';
const START = `mutation ($provider: IdentityProvider!, $redirectUri: String!) {
  startOidcSignIn(provider: $provider, redirectUri: $redirectUri) {
    __typename ... on OidcSignInStart { authorizationUrl } ... on ProviderNotConfigured { provider }
  }
}`;
const COMPLETE = `mutation ($state: String!, $code: String!, $redirectUri: String!) {
  completeOidcSignIn(state: $state, code: $code, redirectUri: $redirectUri) {
    __typename ... on AuthSession { accessToken } ... on OidcSignInFailed { reason }
  }
}`;
const ME = `{ me { id email role tenant { name } } }`;
const LINKED = `{ linkedIdentities { id provider email } }`;
const UNLINK = `mutation ($id: ID!) { unlinkIdentity(id: $id) { __typename ... on LastSignInMethod { message } } }`;

/**
 * Signing in with Google end to end: the web app starts the sign-in through the gateway, the browser goes to (a fake
 * of) Google and comes back with a code, the web app completes the sign-in through the gateway, and the access token
 * it gets is a caller like any other there. GitHub is not configured in this stack, so it is off.
 */
describe('OIDC sign-in through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    const google = new FakeOpenIdProvider('stack-google-client', 'stack-google-secret');
    let stack: Stack;

    beforeAll(async () => {
      await google.start();
      stack = await startStack(mode, `oidc_${mode}`, {
        auth: {
          OIDC_REDIRECT_URIS: CALLBACK,
          OIDC_GOOGLE_CLIENT_ID: google.clientId,
          OIDC_GOOGLE_CLIENT_SECRET: google.clientSecret,
          OIDC_GOOGLE_ISSUER: google.issuer,
        },
      });
    });

    afterAll(async () => {
      await stack?.close();
      await google.close();
    });

    it('signs a person in with Google, whose access token then works at the gateway', async () => {
      const email = `ada-${randomUUID()}@gmail.example`;
      const started = (await ask(stack, '', START, { provider: 'GOOGLE', redirectUri: CALLBACK })).data?.startOidcSignIn;
      const browser = google.signIn({ subject: `google-${randomUUID()}`, email, emailVerified: true, name: 'Ada Lovelace' });
      const callback = await google.authorize(started.authorizationUrl, browser);

      const session = (await ask(stack, '', COMPLETE, { ...callback })).data?.completeOidcSignIn;

      expect(session).toMatchObject({ __typename: 'AuthSession', accessToken: expect.any(String) });
      const me = await ask(stack, session.accessToken, ME);
      expect(me.errors).toBeUndefined();
      expect(me.data?.me).toMatchObject({ email, role: 'OWNER', tenant: { name: expect.stringContaining('Ada Lovelace') } });
      const linked = (await ask(stack, session.accessToken, LINKED)).data?.linkedIdentities;
      expect(linked).toEqual([{ id: expect.any(String), provider: 'GOOGLE', email }]);
      // Google is this account's only way in: it has no password.
      expect((await ask(stack, session.accessToken, UNLINK, { id: linked[0].id })).data?.unlinkIdentity).toMatchObject({
        __typename: 'LastSignInMethod',
      });
    });

    it('answers that a provider without credentials is not configured', async () => {
      const response = await ask(stack, '', START, { provider: 'GITHUB', redirectUri: CALLBACK });

      expect(response.data?.startOidcSignIn).toEqual({ __typename: 'ProviderNotConfigured', provider: 'GITHUB' });
    });
  });
});
