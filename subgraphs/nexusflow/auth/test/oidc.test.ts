import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemFork, type Identity } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { LinkedIdentity } from '../src/entities/linked-identity.entity.ts';
import { Session } from '../src/entities/session.entity.ts';
import { User } from '../src/entities/user.entity.ts';
import { startAuthUnderTest, type AuthUnderTest } from './support/auth-under-test.ts';
import {
  FakeGitHub,
  FakeOpenIdProvider,
  type AuthorizationResponse,
  type GitHubAccount,
  type IdTokenFault,
  type OpenIdAccount,
} from './support/fake-identity-providers.ts';

const PASSWORD = 'correct horse battery';
const CALLBACK = 'https://app.example/auth/callback';
const OTHER_CALLBACK = 'https://admin.example/auth/callback';
/** A Microsoft Entra directory, as the `tid` claim and the issuer name it. */
const ENTRA_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SIGN_IN_TTL_SECONDS = 300;

const SESSION = `__typename ... on AuthSession { accessToken refreshToken user { id email emailVerified role tenant { id name } } }`;
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { ${SESSION} } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { ${SESSION} } }`;
const START = `mutation ($provider: IdentityProvider!, $redirectUri: String!) {
  startOidcSignIn(provider: $provider, redirectUri: $redirectUri) {
    __typename ... on OidcSignInStart { authorizationUrl state expiresAt }
    ... on ProviderNotConfigured { provider } ... on RedirectUriNotAllowed { redirectUri }
  }
}`;
const COMPLETE = `mutation ($state: String!, $code: String!, $redirectUri: String!) {
  completeOidcSignIn(state: $state, code: $code, redirectUri: $redirectUri) { ${SESSION} ... on OidcSignInFailed { reason message } }
}`;
const LINKED = `{ linkedIdentities { id provider email linkedAt lastUsedAt } }`;
const UNLINK = `mutation ($id: ID!) {
  unlinkIdentity(id: $id) { __typename ... on LinkedIdentity { id provider } ... on LinkedIdentityNotFound { id } ... on LastSignInMethod { message } }
}`;

type Provider = 'GOOGLE' | 'MICROSOFT' | 'GITHUB';

const googleAccount = (overrides: Partial<OpenIdAccount> & { email?: string } = {}): OpenIdAccount & { email: string } => ({
  subject: `google-${randomUUID()}`,
  email: `ada-${randomUUID()}@gmail.example`,
  emailVerified: true,
  name: 'Ada Lovelace',
  ...overrides,
});

let nextGitHubId = 1000;
const gitHubAccount = (emails: GitHubAccount['emails']): GitHubAccount => ({ id: nextGitHubId++, login: 'octo', name: 'Octo Cat', emails });

/**
 * Sign-in through Google, Microsoft and GitHub, against fakes of the three that speak their real protocols over HTTP:
 * the test drives the browser (the provider redirects it back with a code), and the auth subgraph does the rest.
 */
describe('OIDC sign-in in the auth subgraph', () => {
  const google = new FakeOpenIdProvider('google-client', 'google-secret');
  const microsoft = new FakeOpenIdProvider('microsoft-client', 'microsoft-secret', { path: `/${ENTRA_TENANT}/v2.0` });
  const github = new FakeGitHub('github-client', 'github-secret');
  const fakes = { GOOGLE: google, MICROSOFT: microsoft } as const;

  beforeAll(async () => {
    await Promise.all([google.start(), microsoft.start(), github.start()]);
  });

  afterAll(async () => {
    await Promise.all([google.close(), microsoft.close(), github.close()]);
  });

  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let auth: AuthUnderTest;
    let subgraph: AuthUnderTest['subgraph'];
    const clock = { now: Date.now() };

    beforeAll(async () => {
      const env: Record<string, string> = {
        OIDC_REDIRECT_URIS: `${CALLBACK}, ${OTHER_CALLBACK}`,
        OIDC_SIGN_IN_TTL_SECONDS: String(SIGN_IN_TTL_SECONDS),
        OIDC_GOOGLE_CLIENT_ID: google.clientId,
        OIDC_GOOGLE_CLIENT_SECRET: google.clientSecret,
        OIDC_GOOGLE_ISSUER: google.issuer,
        OIDC_MICROSOFT_CLIENT_ID: microsoft.clientId,
        OIDC_MICROSOFT_CLIENT_SECRET: microsoft.clientSecret,
        OIDC_MICROSOFT_ISSUER: microsoft.issuer,
        OIDC_GITHUB_CLIENT_ID: github.clientId,
        OIDC_GITHUB_CLIENT_SECRET: github.clientSecret,
        OIDC_GITHUB_URL: github.origin,
        OIDC_GITHUB_API_URL: github.origin,
      };
      auth = await startAuthUnderTest(mode, 'oidc', env, clock);
      ({ subgraph } = auth);
    });

    afterAll(async () => {
      await auth?.close();
    });

    const answer = (identity: Identity, query: string, variables: Record<string, unknown> = {}) => auth.answer(identity, query, variables);

    const anonymous: Identity = { kind: 'anonymous' };

    async function identityOf(session: { __typename: string; accessToken: string }): Promise<Identity> {
      if (session.__typename !== 'AuthSession') throw new Error(`not signed in: ${JSON.stringify(session)}`);
      return auth.identityOf(session.accessToken);
    }

    async function start(provider: Provider, redirectUri = CALLBACK) {
      return (await answer(anonymous, START, { provider, redirectUri })).startOidcSignIn;
    }

    async function complete(response: AuthorizationResponse) {
      return (await answer(anonymous, COMPLETE, { ...response })).completeOidcSignIn;
    }

    /** The whole round: started here, the browser at the provider as `account`, completed with what it brought back. */
    async function authorizeWith(provider: Provider, account: OpenIdAccount | GitHubAccount, redirectUri = CALLBACK) {
      const started = await start(provider, redirectUri);
      if (provider === 'GITHUB') return github.authorize(started.authorizationUrl, github.signIn(account as GitHubAccount));
      const fake = fakes[provider];
      return fake.authorize(started.authorizationUrl, fake.signIn(account as OpenIdAccount));
    }

    async function signInWith(provider: Provider, account: OpenIdAccount | GitHubAccount) {
      return complete(await authorizeWith(provider, account));
    }

    async function register(email: string) {
      const input = { email, password: PASSWORD, name: 'Grace Hopper', tenantName: 'Hopper Labs' };
      return (await answer(anonymous, REGISTER, { input })).register;
    }

    async function linkedIdentitiesOf(session: { __typename: string; accessToken: string }) {
      return (await answer(await identityOf(session), LINKED)).linkedIdentities as Record<string, unknown>[];
    }

    /** What a refused sign-in must not have left behind. */
    async function traces(email: string, subject: string) {
      const em = systemFork(subgraph.database);
      return {
        users: await em.count(User, { email: email.toLowerCase() }),
        identities: await em.count(LinkedIdentity, { subject }),
      };
    }

    it('sends the browser to the provider with PKCE (S256), a state and a nonce, and keeps only the state hash', async () => {
      const started = await start('GOOGLE');

      const url = new URL(started.authorizationUrl);
      expect(`${url.origin}${url.pathname}`).toBe(`${google.issuer}/authorize`);
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        client_id: google.clientId,
        redirect_uri: CALLBACK,
        response_type: 'code',
        scope: 'openid email profile',
        state: started.state,
        code_challenge_method: 'S256',
        code_challenge: expect.stringMatching(/^[\w-]{43}$/),
        nonce: expect.stringMatching(/^[\w-]{43}$/),
      });
      expect(started.expiresAt).toBe(new Date(clock.now + SIGN_IN_TTL_SECONDS * 1000).toISOString());
    });

    it('gives a new person signing in with Google an account and a tenant of their own', async () => {
      const account = googleAccount({ name: 'Ada Lovelace' });

      const session = await signInWith('GOOGLE', account);

      expect(session).toMatchObject({
        __typename: 'AuthSession',
        user: { email: account.email, emailVerified: true, role: 'OWNER', tenant: { name: expect.stringContaining('Ada Lovelace') } },
      });
      expect(await linkedIdentitiesOf(session)).toEqual([
        expect.objectContaining({ provider: 'GOOGLE', email: account.email, linkedAt: expect.any(String) }),
      ]);
      expect(google.tokenRequests.at(-1)?.get('code_verifier')).toMatch(/^[\w-]{43}$/);
    });

    it('links Google to the password account with the same verified email and signs into its tenant', async () => {
      const email = `grace-${randomUUID()}@example.com`;
      const registered = await register(email);
      await systemFork(subgraph.database).nativeUpdate(User, { id: registered.user.id }, { emailVerifiedAt: new Date() });

      const session = await signInWith('GOOGLE', googleAccount({ email: email.toUpperCase() }));

      expect(session).toMatchObject({
        __typename: 'AuthSession',
        user: { id: registered.user.id, tenant: { id: registered.user.tenant.id } },
      });
      expect(await linkedIdentitiesOf(registered)).toEqual([expect.objectContaining({ provider: 'GOOGLE', email })]);
      expect((await answer(anonymous, LOGIN, { input: { email, password: PASSWORD } })).login).toMatchObject({
        user: { id: registered.user.id },
      });
    });

    it('takes the password and sessions of an account whose email was never verified before linking it to Google', async () => {
      const email = `squatted-${randomUUID()}@example.com`;
      const squatter = await register(email);

      const owner = await signInWith('GOOGLE', googleAccount({ email }));

      expect(owner).toMatchObject({ __typename: 'AuthSession', user: { id: squatter.user.id } });
      expect((await answer(anonymous, LOGIN, { input: { email, password: PASSWORD } })).login).toMatchObject({
        __typename: 'InvalidCredentials',
      });
      const squattersSession = (await identityOf(squatter)) as { sessionId: string };
      const sessions = await systemFork(subgraph.database).find(Session, { id: squattersSession.sessionId });
      expect(sessions.map((session) => session.revokedAt)).toEqual([expect.any(Date)]);
    });

    it('finds a linked account by its subject after its email changed at the provider', async () => {
      const account = googleAccount();
      const first = await signInWith('GOOGLE', account);
      const renamed = { ...account, email: `renamed-${randomUUID()}@gmail.example` };

      const second = await signInWith('GOOGLE', renamed);

      expect(second).toMatchObject({ __typename: 'AuthSession', user: { id: first.user.id, email: account.email } });
      expect(await linkedIdentitiesOf(second)).toEqual([expect.objectContaining({ email: renamed.email })]);
    });

    it('signs in with Microsoft when the ID token says the email domain is verified, across the issuer of the directory', async () => {
      const account = {
        subject: `entra-${randomUUID()}`,
        email: `alan-${randomUUID()}@contoso.example`,
        emailVerified: false,
        name: 'Alan Turing',
        claims: { tid: ENTRA_TENANT, xms_edov: true, preferred_username: 'alan@contoso.example' },
      };

      const session = await signInWith('MICROSOFT', account);

      expect(session).toMatchObject({ __typename: 'AuthSession', user: { email: account.email, role: 'OWNER' } });
      expect(await linkedIdentitiesOf(session)).toEqual([expect.objectContaining({ provider: 'MICROSOFT' })]);
    });

    it("does not take Microsoft's email on trust: without a verified domain it reaches no account", async () => {
      const email = `mallory-${randomUUID()}@example.com`;
      await register(email);
      const account = {
        subject: `entra-${randomUUID()}`,
        email,
        emailVerified: true,
        name: 'Mallory',
        claims: { tid: ENTRA_TENANT, preferred_username: email },
      };

      const refused = await signInWith('MICROSOFT', account);

      expect(refused).toMatchObject({ __typename: 'OidcSignInFailed', reason: 'EMAIL_NOT_VERIFIED' });
      expect(await traces(email, account.subject)).toEqual({ users: 1, identities: 0 });
    });

    it("signs in with GitHub by the account's primary verified email, and refuses an account whose primary is unverified", async () => {
      const primary = `octo-${randomUUID()}@example.com`;
      const verified = gitHubAccount([
        { email: `other-${randomUUID()}@example.com`, primary: false, verified: true },
        { email: primary, primary: true, verified: true },
      ]);
      const unverifiedPrimary = `octo-${randomUUID()}@example.com`;
      const unverified = gitHubAccount([
        { email: unverifiedPrimary, primary: true, verified: false },
        { email: `spare-${randomUUID()}@example.com`, primary: false, verified: true },
      ]);

      const session = await signInWith('GITHUB', verified);
      const refused = await signInWith('GITHUB', unverified);

      expect(session).toMatchObject({ __typename: 'AuthSession', user: { email: primary, role: 'OWNER' } });
      expect(await linkedIdentitiesOf(session)).toEqual([expect.objectContaining({ provider: 'GITHUB', email: primary })]);
      expect(refused).toMatchObject({ __typename: 'OidcSignInFailed', reason: 'EMAIL_NOT_VERIFIED' });
      expect(await traces(unverifiedPrimary, String(unverified.id))).toEqual({ users: 0, identities: 0 });
    });

    it('refuses a state used a second time', async () => {
      const response = await authorizeWith('GOOGLE', googleAccount());
      expect(await complete(response)).toMatchObject({ __typename: 'AuthSession' });

      expect(await complete(response)).toMatchObject({ __typename: 'OidcSignInFailed', reason: 'INVALID_STATE' });
    });

    it('refuses a state brought back to another redirect URI than the one it was started for', async () => {
      const account = googleAccount();
      const response = await authorizeWith('GOOGLE', account, CALLBACK);

      const refused = await complete({ ...response, redirectUri: OTHER_CALLBACK });

      expect(refused).toMatchObject({ __typename: 'OidcSignInFailed', reason: 'INVALID_STATE' });
      expect(await traces(account.email, account.subject)).toEqual({ users: 0, identities: 0 });
    });

    it('refuses a state that is unknown, and one completed after its expiry', async () => {
      const response = await authorizeWith('GOOGLE', googleAccount());
      clock.now += (SIGN_IN_TTL_SECONDS + 1) * 1000;

      expect(await complete(response)).toMatchObject({ __typename: 'OidcSignInFailed', reason: 'EXPIRED' });
      expect(await complete({ ...response, state: 'made-up-state' })).toMatchObject({ reason: 'INVALID_STATE' });
    });

    it('refuses a code the provider does not redeem', async () => {
      const response = await authorizeWith('GOOGLE', googleAccount());

      expect(await complete({ ...response, code: 'forged-code' })).toMatchObject({
        __typename: 'OidcSignInFailed',
        reason: 'PROVIDER_ERROR',
      });
    });

    it.each<IdTokenFault>([
      'signed-with-another-key',
      'signed-with-an-unknown-key',
      'for-another-audience',
      'with-another-nonce',
      'expired',
      'from-another-issuer',
    ])('refuses an ID token %s, creating no user, identity or session', async (fault) => {
      const account = googleAccount();
      const sessionsBefore = await systemFork(subgraph.database).count(Session, {});
      google.issueNextIdToken(fault);

      const refused = await signInWith('GOOGLE', account);

      expect(refused).toMatchObject({ __typename: 'OidcSignInFailed', reason: 'INVALID_ID_TOKEN' });
      expect(await traces(account.email, account.subject)).toEqual({ users: 0, identities: 0 });
      expect(await systemFork(subgraph.database).count(Session, {})).toBe(sessionsBefore);
    });

    it('does not link an email the provider does not vouch for to the account that has it', async () => {
      const email = `victim-${randomUUID()}@example.com`;
      const registered = await register(email);
      const account = googleAccount({ email, emailVerified: false });

      const refused = await signInWith('GOOGLE', account);

      expect(refused).toMatchObject({ __typename: 'OidcSignInFailed', reason: 'EMAIL_NOT_VERIFIED' });
      expect(await linkedIdentitiesOf(registered)).toEqual([]);
      expect(await traces(email, account.subject)).toEqual({ users: 1, identities: 0 });
    });

    it('unlinks an identity, but never the only way in of an account without a password', async () => {
      const account = googleAccount();
      const session = await signInWith('GOOGLE', account);
      const identity = await identityOf(session);
      const [googleIdentity] = await linkedIdentitiesOf(session);

      expect((await answer(identity, UNLINK, { id: googleIdentity!.id })).unlinkIdentity).toMatchObject({ __typename: 'LastSignInMethod' });

      await signInWith('GITHUB', gitHubAccount([{ email: account.email, primary: true, verified: true }]));
      const unlinked = (await answer(identity, UNLINK, { id: googleIdentity!.id })).unlinkIdentity;

      expect(unlinked).toEqual({ __typename: 'LinkedIdentity', id: googleIdentity!.id, provider: 'GOOGLE' });
      expect(await linkedIdentitiesOf(session)).toEqual([expect.objectContaining({ provider: 'GITHUB' })]);
      expect((await answer(identity, UNLINK, { id: googleIdentity!.id })).unlinkIdentity).toMatchObject({
        __typename: 'LinkedIdentityNotFound',
      });
    });

    it("does not let a person see or unlink another person's identities", async () => {
      const owner = await signInWith('GOOGLE', googleAccount());
      const stranger = await signInWith('GOOGLE', googleAccount());
      const [ownersIdentity] = await linkedIdentitiesOf(owner);

      const attempt = (await answer(await identityOf(stranger), UNLINK, { id: ownersIdentity!.id })).unlinkIdentity;

      expect(attempt).toEqual({ __typename: 'LinkedIdentityNotFound', id: ownersIdentity!.id });
      expect(await linkedIdentitiesOf(stranger)).not.toContainEqual(expect.objectContaining({ id: ownersIdentity!.id }));
      expect(await linkedIdentitiesOf(owner)).toEqual([ownersIdentity]);
    });

    it('refuses a redirect URI that is not on the allow-list', async () => {
      expect(await start('GOOGLE', 'https://evil.example/auth/callback')).toEqual({
        __typename: 'RedirectUriNotAllowed',
        redirectUri: 'https://evil.example/auth/callback',
      });
    });
  });
});
