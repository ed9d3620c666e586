import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callSubgraph, Role, systemFork, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { JWKS_PATH, subgraphRouteVariable } from '@nexusflow/topology';
import { startServices, TestServices } from '../../../../test/support/services.ts';
import type { RunningGateway } from '../../../../gateway/src/gateway.ts';
import type { AuthServiceV2Services } from '../src/context.ts';
import { OAuthClient } from '../src/entities/oauth-client.entity.ts';
import { ProviderRecord } from '../src/entities/provider-record.entity.ts';
import { subgraph } from '../src/subgraph.ts';

const REGISTER = `mutation ($input: RegisterOAuthClientInput!) { registerOAuthClient(input: $input) {
  clientSecret client { id name clientType grantTypes redirectUris secretIssuedAt } } }`;
const LIST = '{ oauthClients(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { oauthClient(id: $id) { id name clientType } }';
const ROTATE = `mutation ($id: ID!) { rotateOAuthClientSecret(id: $id) { __typename
  ... on RotatedOAuthClientSecret { clientSecret client { id } } ... on OAuthClientNotFound { id } ... on OAuthClientHasNoSecret { id } } }`;
const DELETE = `mutation ($id: ID!) { deleteOAuthClient(id: $id) { __typename ... on DeletedOAuthClient { id } ... on OAuthClientNotFound { id } } }`;
const ISSUE = 'mutation ($input: IssueAccessTokenInput!) { issueAccessToken(input: $input) { token } }';
const REGISTER_USER = `mutation ($input: RegisterInput!) { register(input: $input) { ... on Registered { user { id organisation { id } } } } }`;
const CREATE_USER = 'mutation ($input: CreateUserInput!) { createUser(input: $input) { ... on User { id } } }';
const DEACTIVATE_USER = 'mutation ($id: ID!) { deactivateUser(id: $id) { __typename } }';
const PASSWORD = 'correct horse battery';

const REDIRECT_URI = 'http://127.0.0.1:8765/callback';
const HOUR_MS = 3_600_000;

type User = Extract<Identity, { kind: 'user' }>;
const user = (tenantId: string, roles: Role[]): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

/** A port nothing listens on now, so that the issuer can name it before the service starts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The cookies of one user agent across the redirects of an authorization, as a browser keeps them. */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(response: Response): Response {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const separator = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, separator), pair!.slice(separator + 1));
    }
    return response;
  }

  get header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

describe.each(storageModes(['postgres', 'redis']))('OAuth 2.0 and OpenID Connect for third-party apps on $storage', ({ mode }) => {
  let services: TestServices;
  let tokenMgr: RunningSubgraph<unknown>;
  let keyService: RunningSubgraph<unknown>;
  let userAuth: RunningSubgraph<unknown>;
  let server: RunningSubgraph<AuthServiceV2Services>;
  let gateway: RunningGateway;
  let issuer: string;
  /** How far the service's clock is ahead of the real one: expiries it stores go by it. */
  let clockAhead = 0;

  beforeAll(async () => {
    services = await TestServices.create(mode, `auth_service_v2_${mode}`);
    const running: Record<string, RunningSubgraph<unknown>> = {};
    await startServices(services, 'nexus-cos', ['key-service', 'token-mgr', 'session-mgr', 'user-auth'], running, {
      'token-mgr': { ROTATE_KEYS: 'off' },
    });
    tokenMgr = running['token-mgr']!;
    keyService = running['key-service']!;
    userAuth = running['user-auth']!;
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    server = await services.start(
      subgraph,
      {
        ...(await services.environmentFor('auth-service-v2')),
        PORT: String(port),
        OAUTH_ISSUER: issuer,
        TOKEN_MGR_URL: tokenMgr.graphqlUrl,
        KEY_SERVICE_URL: keyService.graphqlUrl,
        USER_AUTH_URL: userAuth.graphqlUrl,
        OAUTH_PRUNE_INTERVAL_MS: '0',
      },
      { clock: () => Date.now() + clockAhead },
    );
    gateway = await services.startGateway(
      'nexus-cos',
      { [subgraphRouteVariable('token-mgr')]: tokenMgr.graphqlUrl, [subgraphRouteVariable('auth-service-v2')]: server.graphqlUrl },
      { ACCESS_TOKEN_JWKS_URL: `${tokenMgr.url}${JWKS_PATH}` },
    );
  });

  afterAll(async () => {
    await services?.close();
  });

  /** A COS access token, as auth-service's login has token-mgr issue one. */
  const cosToken = async (holder: User) =>
    (
      await callSubgraph<{ issueAccessToken: { token: string } }, unknown>({
        url: tokenMgr.graphqlUrl,
        query: ISSUE,
        variables: { input: { userId: holder.userId, tenantId: holder.tenantId, roles: holder.roles } },
        identity: { kind: 'anonymous' },
        internalSecret: tokenMgr.config.internalSecret,
      })
    ).issueAccessToken.token;
  /** A user user-auth knows, the OWNER of a new organisation: authorizations are for such users only. */
  const registeredOwner = async (): Promise<User> => {
    const input = { email: `owner-${randomUUID()}@example.com`, password: PASSWORD, name: 'Ada', organisationName: 'Engines' };
    const { register: registered } = await callSubgraph<{ register: { user: { id: string; organisation: { id: string } } } }, unknown>({
      url: userAuth.graphqlUrl,
      query: REGISTER_USER,
      variables: { input },
      identity: { kind: 'anonymous' },
      internalSecret: userAuth.config.internalSecret,
    });
    return { kind: 'user', userId: registered.user.id, tenantId: registered.user.organisation.id, roles: [Role.Owner] };
  };
  /** An OWNER's call to user-auth, as backend-api would forward it. */
  const toUserAuth = <T>(owner: User, query: string, variables: Record<string, unknown>) =>
    callSubgraph<T, unknown>({
      url: userAuth.graphqlUrl,
      query,
      variables,
      identity: owner,
      internalSecret: userAuth.config.internalSecret,
    });
  const registeredMember = async (owner: User): Promise<User> => {
    const input = { email: `member-${randomUUID()}@example.com`, password: PASSWORD, name: 'Bo', role: 'MEMBER' };
    const { createUser } = await toUserAuth<{ createUser: { id: string } }>(owner, CREATE_USER, { input });
    return { kind: 'user', userId: createUser.id, tenantId: owner.tenantId, roles: [Role.Member] };
  };
  const send = async (holder: User, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(gateway.graphqlUrl, query, { token: await cosToken(holder), variables });
  const codes = (response: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
    response.errors?.map((error) => error.extensions?.code);
  const register = async (holder: User, input: Record<string, unknown>) => {
    const response = await send(holder, REGISTER, { input: { name: 'Partner app', ...input } });
    expect(response.errors).toBeUndefined();
    return response.data!.registerOAuthClient as { clientSecret: string | null; client: { id: string } };
  };
  const confidentialApp = (holder: User) => register(holder, { clientType: 'CONFIDENTIAL', grantTypes: ['CLIENT_CREDENTIALS'] });
  const discover = (clientId: string, auth: oauth.ClientAuth) =>
    oauth.discovery(new URL(issuer), clientId, undefined, auth, { execute: [oauth.allowInsecureRequests] });
  /** The OAuth error code a refusal carries, in its body or its WWW-Authenticate challenge (a 401 answer). */
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) =>
        error instanceof oauth.WWWAuthenticateChallengeError ? error.cause[0]?.parameters.error : (error as { error?: string }).error,
    );

  /**
   * What a user agent does between the app's authorization URL and its redirect URI, the user signed in to COS; with
   * `jar`, a browser that keeps its cookies from one authorization to the next.
   */
  async function authorize(authorizationUrl: URL, cosAccessToken: string, approve = true, jar = new CookieJar()) {
    const started = jar.store(await fetch(authorizationUrl, { redirect: 'manual', headers: { cookie: jar.header } }));
    expect(started.status).toBe(303);
    const interactionUrl = new URL(started.headers.get('location')!, issuer);
    const headers = { authorization: `Bearer ${cosAccessToken}`, cookie: jar.header };
    const prompt = (await (await fetch(interactionUrl, { headers })).json()) as Record<string, unknown>;
    const decided = jar.store(
      await fetch(interactionUrl, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ approve }),
      }),
    );
    expect(decided.status).toBe(200);
    const { redirectTo } = (await decided.json()) as { redirectTo: string };
    const resumed = jar.store(await fetch(new URL(redirectTo, issuer), { redirect: 'manual', headers: { cookie: jar.header } }));
    expect(resumed.status).toBe(303);
    return { prompt, callback: new URL(resumed.headers.get('location')!, issuer) };
  }

  describe('client registration through backend-api', () => {
    it('registers for an OWNER or ADMIN a client whose secret is shown once, and refuses a MEMBER or VIEWER', async () => {
      const tenantId = randomUUID();
      const owner = user(tenantId, [Role.Owner]);
      const registered = await register(owner, {
        clientType: 'CONFIDENTIAL',
        grantTypes: ['AUTHORIZATION_CODE', 'REFRESH_TOKEN', 'CLIENT_CREDENTIALS'],
        redirectUris: ['https://partner.example/callback', REDIRECT_URI],
      });
      expect(registered.clientSecret).toMatch(/^[\w-]{43}$/);
      const stored = await systemFork(server.database).findOneOrFail(OAuthClient, { id: registered.client.id });
      expect(stored.encryptedSecret).not.toContain(registered.clientSecret);
      expect(registered.client).toMatchObject({ clientType: 'CONFIDENTIAL', secretIssuedAt: expect.any(String) });
      const admin = await register(user(tenantId, [Role.Admin]), {
        clientType: 'PUBLIC',
        grantTypes: ['AUTHORIZATION_CODE'],
        redirectUris: [REDIRECT_URI],
      });
      expect(admin.clientSecret).toBeNull();
      const viewer = user(tenantId, [Role.Viewer]);
      const listed = (await send(viewer, LIST)).data?.oauthClients as { id: string }[];
      expect(listed.map(({ id }) => id).sort()).toEqual([registered.client.id, admin.client.id].sort());
      for (const refused of [user(tenantId, [Role.Member]), viewer]) {
        const input = { name: 'Not allowed', clientType: 'CONFIDENTIAL', grantTypes: ['CLIENT_CREDENTIALS'] };
        expect(codes(await send(refused, REGISTER, { input }))).toEqual(['FORBIDDEN']);
        expect(codes(await send(refused, ROTATE, { id: registered.client.id }))).toEqual(['FORBIDDEN']);
      }
      expect((await send(owner, ROTATE, { id: admin.client.id })).data?.rotateOAuthClientSecret).toEqual({
        __typename: 'OAuthClientHasNoSecret',
        id: admin.client.id,
      });
    });

    it("shows and lets change no client to another tenant's owner", async () => {
      const { client } = await confidentialApp(user(randomUUID(), [Role.Owner]));
      const stranger = user(randomUUID(), [Role.Owner]);
      expect((await send(stranger, FIND, { id: client.id })).data).toEqual({ oauthClient: null });
      expect((await send(stranger, LIST)).data).toEqual({ oauthClients: [] });
      expect((await send(stranger, ROTATE, { id: client.id })).data?.rotateOAuthClientSecret.__typename).toBe('OAuthClientNotFound');
      expect((await send(stranger, DELETE, { id: client.id })).data?.deleteOAuthClient.__typename).toBe('OAuthClientNotFound');
    });

    it('refuses a redirect URI that is neither https nor http on a loopback host with BAD_USER_INPUT naming the field', async () => {
      const owner = user(randomUUID(), [Role.Owner]);
      for (const redirectUri of ['http://partner.example/callback', 'partner.example/callback', 'https://partner.example/cb#x']) {
        const input = { name: 'Bad', clientType: 'PUBLIC', grantTypes: ['AUTHORIZATION_CODE'], redirectUris: [redirectUri] };
        const refused = await send(owner, REGISTER, { input });
        expect(refused.errors?.[0], redirectUri).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'redirectUris.0' } });
      }
      expect((await send(owner, LIST)).data).toEqual({ oauthClients: [] });
    });
  });

  describe('the provider, driven by openid-client as a third-party app', () => {
    it("publishes its discovery document and a JWKS of its own, under an issuer that is not token-mgr's", async () => {
      const { client } = await confidentialApp(user(randomUUID(), [Role.Owner]));
      const metadata = (await discover(client.id, oauth.ClientSecretBasic('unused'))).serverMetadata();
      expect(metadata).toMatchObject({
        issuer,
        authorization_endpoint: `${issuer}/oauth/authorize`,
        token_endpoint: `${issuer}/oauth/token`,
        introspection_endpoint: `${issuer}/oauth/introspect`,
        revocation_endpoint: `${issuer}/oauth/revoke`,
        jwks_uri: `${issuer}/oauth/jwks`,
        code_challenge_methods_supported: ['S256'],
      });
      expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'client_credentials', 'refresh_token']));
      // What clients are registered with, and nothing more: no implicit grant, no other way to authenticate.
      expect(metadata.grant_types_supported).not.toContain('implicit');
      expect(metadata.response_types_supported).toEqual(['code', 'none']);
      expect(metadata.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'none']);
      const ownKeys = ((await (await fetch(metadata.jwks_uri!)).json()) as { keys: { kid: string; alg: string; d?: string }[] }).keys;
      const cosKeys = ((await (await fetch(`${tokenMgr.url}${JWKS_PATH}`)).json()) as { keys: { kid: string }[] }).keys;
      expect(ownKeys).toEqual([expect.objectContaining({ alg: 'RS256' })]);
      expect(ownKeys[0]!.d).toBeUndefined();
      expect(cosKeys.map(({ kid }) => kid)).not.toContain(ownKeys[0]!.kid);
      expect((await fetch(`${issuer}/health/ready`)).status).toBe(200);
    });

    it('grants client credentials to a confidential client, introspects and revokes the token, and honours secret rotation', async () => {
      const owner = user(randomUUID(), [Role.Owner]);
      const { client, clientSecret } = await confidentialApp(owner);
      const app = await discover(client.id, oauth.ClientSecretBasic(clientSecret!));
      const { access_token: accessToken, token_type: tokenType } = await oauth.clientCredentialsGrant(app);
      expect(tokenType).toBe('bearer');
      expect(await oauth.tokenIntrospection(app, accessToken)).toMatchObject({ active: true, client_id: client.id, iss: issuer });
      // Another resource server of the same organisation may introspect it; one of another organisation learns nothing.
      const sibling = await confidentialApp(owner);
      const siblingApp = await discover(sibling.client.id, oauth.ClientSecretBasic(sibling.clientSecret!));
      expect(await oauth.tokenIntrospection(siblingApp, accessToken)).toMatchObject({ active: true, client_id: client.id });
      const stranger = await confidentialApp(user(randomUUID(), [Role.Owner]));
      const strangerApp = await discover(stranger.client.id, oauth.ClientSecretBasic(stranger.clientSecret!));
      expect(await oauth.tokenIntrospection(strangerApp, accessToken)).toEqual({ active: false });
      await oauth.tokenRevocation(strangerApp, accessToken);
      expect(await oauth.tokenIntrospection(app, accessToken)).toMatchObject({ active: true });
      await oauth.tokenRevocation(app, accessToken);
      expect(await oauth.tokenIntrospection(app, accessToken)).toEqual({ active: false });
      for (const unknown of ['not-a-client', randomUUID()]) {
        expect(await refusal(oauth.clientCredentialsGrant(await discover(unknown, oauth.ClientSecretBasic(clientSecret!))))).toBe(
          'invalid_client',
        );
      }

      const rotated = (await send(owner, ROTATE, { id: client.id })).data?.rotateOAuthClientSecret;
      expect(rotated).toMatchObject({ __typename: 'RotatedOAuthClientSecret', client: { id: client.id } });
      expect(await refusal(oauth.clientCredentialsGrant(app))).toBe('invalid_client');
      const renewed = await discover(client.id, oauth.ClientSecretBasic(rotated.clientSecret));
      expect((await oauth.clientCredentialsGrant(renewed)).access_token).toEqual(expect.any(String));
    });

    it('runs the code flow with PKCE for a public client, its user signed in with a COS access token, and rotates refresh tokens', async () => {
      const owner = await registeredOwner();
      const member = await registeredMember(owner);
      const { client } = await register(owner, {
        clientType: 'PUBLIC',
        grantTypes: ['AUTHORIZATION_CODE', 'REFRESH_TOKEN'],
        redirectUris: [REDIRECT_URI],
      });
      const app = await discover(client.id, oauth.None());
      const verifier = oauth.randomPKCECodeVerifier();
      const state = oauth.randomState();
      const authorizationUrl = oauth.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI,
        // OpenID Connect grants offline_access only when the user is asked to consent.
        scope: 'openid offline_access',
        prompt: 'consent',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      const memberToken = await cosToken(member);
      const { prompt, callback } = await authorize(authorizationUrl, memberToken);
      expect(prompt).toMatchObject({
        client: { id: client.id, name: 'Partner app' },
        scopes: ['openid', 'offline_access'],
        consented: false,
      });
      const tokens = await oauth.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier, expectedState: state });
      expect(tokens.claims()).toMatchObject({ iss: issuer, aud: client.id, sub: member.userId });
      expect(await oauth.fetchUserInfo(app, tokens.access_token, member.userId)).toEqual({ sub: member.userId });

      const refreshed = await oauth.refreshTokenGrant(app, tokens.refresh_token!);
      expect(refreshed.refresh_token).toEqual(expect.any(String));
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
      expect(await refusal(oauth.refreshTokenGrant(app, tokens.refresh_token!))).toBe('invalid_grant');

      // The consent is remembered per user and client: the next authorization asks nothing new.
      const again = oauth.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const signedInOnly = await authorize(again, memberToken);
      expect(signedInOnly.prompt).toMatchObject({ consented: true });
      // Without offline access asked for and consented to, the code gives no refresh token.
      const online = await oauth.authorizationCodeGrant(app, signedInOnly.callback, { pkceCodeVerifier: verifier });
      expect(online.access_token).toEqual(expect.any(String));
      expect(online.refresh_token).toBeUndefined();

      // Deactivated in user-auth, the user has no account here any more: their refresh token issues nothing.
      const offline = oauth.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid offline_access',
        prompt: 'consent',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const granted = await oauth.authorizationCodeGrant(app, (await authorize(offline, memberToken)).callback, {
        pkceCodeVerifier: verifier,
      });
      const live = await oauth.refreshTokenGrant(app, granted.refresh_token!);
      await toUserAuth(owner, DEACTIVATE_USER, { id: member.userId });
      expect(await refusal(oauth.refreshTokenGrant(app, live.refresh_token!))).toBe('invalid_grant');
    });

    it('signs every authorization in with a COS access token, so a shared browser carries no sign-in to the next user', async () => {
      const owner = await registeredOwner();
      const [first, second] = [await registeredMember(owner), await registeredMember(owner)];
      const { client } = await register(owner, { clientType: 'PUBLIC', grantTypes: ['AUTHORIZATION_CODE'], redirectUris: [REDIRECT_URI] });
      const app = await discover(client.id, oauth.None());
      const browser = new CookieJar();
      const subjectAuthorizedBy = async (user: User) => {
        const verifier = oauth.randomPKCECodeVerifier();
        const authorizationUrl = oauth.buildAuthorizationUrl(app, {
          redirect_uri: REDIRECT_URI,
          scope: 'openid',
          code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        });
        const { callback } = await authorize(authorizationUrl, await cosToken(user), true, browser);
        return (await oauth.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier })).claims()?.sub;
      };
      expect(await subjectAuthorizedBy(first)).toBe(first.userId);
      // The first user signed out of COS; the next one, in the same browser, is asked to sign in, not taken for them.
      expect(await subjectAuthorizedBy(second)).toBe(second.userId);
      // Nor is a silent authorization answered from the browser's cookie alone.
      const silent = oauth.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        prompt: 'none',
        code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      const answer = await fetch(silent, { redirect: 'manual', headers: { cookie: browser.header } });
      expect(new URL(answer.headers.get('location')!).searchParams.get('error')).toBe('login_required');
    });

    it('requires PKCE of a confidential client too', async () => {
      const owner = user(randomUUID(), [Role.Owner]);
      const { client, clientSecret } = await register(owner, {
        clientType: 'CONFIDENTIAL',
        grantTypes: ['AUTHORIZATION_CODE'],
        redirectUris: [REDIRECT_URI],
      });
      const app = await discover(client.id, oauth.ClientSecretBasic(clientSecret!));
      const withoutPkce = await fetch(oauth.buildAuthorizationUrl(app, { redirect_uri: REDIRECT_URI, scope: 'openid' }), {
        redirect: 'manual',
      });
      expect(new URL(withoutPkce.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    });

    it('refuses a public client without PKCE, an interaction without a COS token, and a user of another tenant', async () => {
      const owner = user(randomUUID(), [Role.Owner]);
      const { client } = await register(owner, { clientType: 'PUBLIC', grantTypes: ['AUTHORIZATION_CODE'], redirectUris: [REDIRECT_URI] });
      const app = await discover(client.id, oauth.None());
      const withoutPkce = await fetch(oauth.buildAuthorizationUrl(app, { redirect_uri: REDIRECT_URI, scope: 'openid' }), {
        redirect: 'manual',
      });
      expect(new URL(withoutPkce.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');

      const authorizationUrl = oauth.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      const started = await fetch(authorizationUrl, { redirect: 'manual' });
      const anonymous = await fetch(new URL(started.headers.get('location')!, issuer), { method: 'POST', body: '{"approve":true}' });
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toMatchObject({ error: 'invalid_token' });

      const stranger = await cosToken(user(randomUUID(), [Role.Owner]));
      const { prompt, callback } = await authorize(authorizationUrl, stranger);
      expect(prompt).toMatchObject({ allowed: false });
      expect(callback.searchParams.get('error')).toBe('access_denied');
    });

    it('ends the tokens of a deleted client, and prunes expired provider records', async () => {
      const owner = user(randomUUID(), [Role.Owner]);
      const { client, clientSecret } = await confidentialApp(owner);
      const app = await discover(client.id, oauth.ClientSecretBasic(clientSecret!));
      await oauth.clientCredentialsGrant(app);
      const recordsOf = (clientId: string) => server.database.fork().count(ProviderRecord, { clientId });
      expect(await recordsOf(client.id)).toBe(1);
      expect((await send(owner, DELETE, { id: client.id })).data?.deleteOAuthClient).toEqual({
        __typename: 'DeletedOAuthClient',
        id: client.id,
      });
      expect(await recordsOf(client.id)).toBe(0);
      expect(await refusal(oauth.clientCredentialsGrant(app))).toBe('invalid_client');

      const other = await confidentialApp(owner);
      await oauth.clientCredentialsGrant(await discover(other.client.id, oauth.ClientSecretBasic(other.clientSecret!)));
      await server.services.pruning.runNow();
      expect(await recordsOf(other.client.id)).toBe(1);
      clockAhead = 2 * HOUR_MS;
      try {
        await server.services.pruning.runNow();
      } finally {
        clockAhead = 0;
      }
      expect(await recordsOf(other.client.id)).toBe(0);
    });
  });
});
