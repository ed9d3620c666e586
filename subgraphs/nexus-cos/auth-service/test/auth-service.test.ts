import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, signIdentity, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { CLOSED_PORT_URL, startServices, TestServices } from '../../../../test/support/services.ts';
import { subgraph } from '../src/subgraph.ts';

const PASSWORD = 'correct horse battery';
const ATTEMPTS_PER_ACCOUNT = 3;
const SIGNED_IN = 'accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt sessionId user { id }';
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { __typename
  ... on SignedIn { ${SIGNED_IN} } ... on IncorrectCredentials { message } ... on AccountDeactivated { message }
  ... on TooManyLoginAttempts { retryAfterSeconds } } }`;
const REFRESH = `mutation ($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { __typename
  ... on SignedIn { ${SIGNED_IN} } ... on InvalidRefreshToken { problem } } }`;
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { ... on Registered { user { id organisation { id } } } } }`;
const CREATE_USER = `mutation ($input: CreateUserInput!) { createUser(input: $input) { ... on User { id } } }`;

/** What an access token says, unverified: the gateway's tests verify them. */
const claimsOf = (accessToken: string) =>
  JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

describe('the auth-service subgraph', () => {
  let services: TestServices;
  const running: Record<string, RunningSubgraph<unknown>> = {};
  let withoutUserAuth: RunningSubgraph<unknown>;

  beforeAll(async () => {
    services = await TestServices.create('embedded', 'auth_service_behaviour');
    await startServices(services, 'nexus-cos', ['key-service', 'token-mgr', 'user-auth', 'session-mgr', 'auth-service'], running, {
      'token-mgr': { ROTATE_KEYS: 'off' },
      'auth-service': { LOGIN_RATE_LIMIT_PER_ACCOUNT: String(ATTEMPTS_PER_ACCOUNT), LOGIN_RATE_LIMIT_PER_ADDRESS: '5' },
    });
    const env = await services.environmentFor('auth-service_down');
    withoutUserAuth = await services.start(subgraph, {
      ...env,
      DATA_DIR: `${env.DATA_DIR}/down`,
      USER_AUTH_URL: CLOSED_PORT_URL,
      SESSION_MGR_URL: running['session-mgr']!.graphqlUrl,
      TOKEN_MGR_URL: running['token-mgr']!.graphqlUrl,
    });
  });

  afterAll(async () => {
    await services?.close();
  });

  const ask = <T = Record<string, any>>(
    service: string | RunningSubgraph<unknown>,
    identity: Identity,
    query: string,
    variables: Record<string, unknown> = {},
    clientAddress = '203.0.113.7',
  ) => {
    const target = typeof service === 'string' ? running[service]! : service;
    return postGraphQL<T>(target.graphqlUrl, query, {
      variables,
      headers: signIdentity(identity, target.config.internalSecret, Date.now(), clientAddress, 'Test browser'),
    });
  };
  const data = async (service: string, identity: Identity, query: string, variables: Record<string, unknown> = {}, address?: string) => {
    const response = await ask(service, identity, query, variables, address);
    expect(response.errors).toBeUndefined();
    return response.data!;
  };
  const register = async () => {
    const email = `owner-${randomUUID()}@example.com`;
    const input = { email, password: PASSWORD, name: 'Owner', organisationName: 'Org' };
    const { user } = (await data('user-auth', ANONYMOUS, REGISTER, { input })).register;
    return { email, userId: user.id as string, tenantId: user.organisation.id as string };
  };
  const login = async (email: string, password = PASSWORD, address = `198.51.100.${Math.floor(Math.random() * 250)}`) =>
    (await data('auth-service', ANONYMOUS, LOGIN, { input: { email, password } }, address)).login;

  it('signs a user in with a session of session-mgr and an access token of token-mgr for it', async () => {
    const { email, userId, tenantId } = await register();
    const signedIn = await login(email.toUpperCase());
    expect(signedIn).toEqual({
      __typename: 'SignedIn',
      accessToken: expect.any(String),
      accessTokenExpiresAt: expect.any(String),
      refreshToken: expect.any(String),
      refreshTokenExpiresAt: expect.any(String),
      sessionId: expect.any(String),
      user: { id: userId },
    });
    expect(claimsOf(signedIn.accessToken)).toMatchObject({ sub: userId, tid: tenantId, roles: ['OWNER'], sid: signedIn.sessionId });
    const owner: Identity = { kind: 'user', userId, tenantId, roles: [] };
    const signIns = await data('auth-service', owner, '{ mySignIns { sessionId clientAddress userAgent user { id } } }');
    expect(signIns.mySignIns).toEqual([
      { sessionId: signedIn.sessionId, clientAddress: expect.any(String), userAgent: 'Test browser', user: { id: userId } },
    ]);
    const stranger: Identity = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [] };
    expect((await data('auth-service', stranger, '{ mySignIns { sessionId } }')).mySignIns).toEqual([]);
  });

  it('answers a wrong password and an unknown email alike, and a deactivated account as such', async () => {
    const { email, userId, tenantId } = await register();
    const wrong = await login(email, 'not the password');
    expect(wrong).toEqual({ __typename: 'IncorrectCredentials', message: expect.any(String) });
    expect(await login(`nobody-${randomUUID()}@example.com`)).toEqual(wrong);
    const memberEmail = `member-${randomUUID()}@example.com`;
    const owner: Identity = { kind: 'user', userId, tenantId, roles: ['OWNER' as never] };
    const input = { email: memberEmail, password: PASSWORD, name: 'Member', role: 'MEMBER' };
    const memberId = (await data('user-auth', owner, CREATE_USER, { input })).createUser.id;
    await data('user-auth', owner, 'mutation ($id: ID!) { deactivateUser(id: $id) { __typename } }', { id: memberId });
    expect(await login(memberEmail)).toEqual({ __typename: 'AccountDeactivated', message: expect.any(String) });
  });

  it('refuses a refresh once its user was deactivated, whose sessions user-auth ended, and carries a changed role otherwise', async () => {
    const { userId, tenantId } = await register();
    const owner: Identity = { kind: 'user', userId, tenantId, roles: ['OWNER' as never] };
    const email = `admin-${randomUUID()}@example.com`;
    const input = { email, password: PASSWORD, name: 'Admin', role: 'ADMIN' };
    const adminId = (await data('user-auth', owner, CREATE_USER, { input })).createUser.id;
    const signedIn = await login(email);
    const refreshed = (await data('auth-service', ANONYMOUS, REFRESH, { refreshToken: signedIn.refreshToken })).refreshSession;
    expect(claimsOf(refreshed.accessToken).roles).toEqual(['ADMIN']);
    await data('user-auth', owner, 'mutation ($id: ID!) { deactivateUser(id: $id) { __typename } }', { id: adminId });
    const refused = (await data('auth-service', ANONYMOUS, REFRESH, { refreshToken: refreshed.refreshToken })).refreshSession;
    expect(refused).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REVOKED' });
  });

  it('rotates the refresh token on refresh, and refuses the spent one as REUSED', async () => {
    const { email } = await register();
    const first = await login(email);
    const second = (await data('auth-service', ANONYMOUS, REFRESH, { refreshToken: first.refreshToken })).refreshSession;
    expect(second).toMatchObject({ __typename: 'SignedIn', sessionId: first.sessionId, user: first.user });
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect((await data('auth-service', ANONYMOUS, REFRESH, { refreshToken: first.refreshToken })).refreshSession).toEqual({
      __typename: 'InvalidRefreshToken',
      problem: 'REUSED',
    });
    expect((await data('auth-service', ANONYMOUS, REFRESH, { refreshToken: second.refreshToken })).refreshSession).toEqual({
      __typename: 'InvalidRefreshToken',
      problem: 'REVOKED',
    });
  });

  it('limits sign-in attempts per account, whoever tries, and per address, whatever the account', async () => {
    const { email } = await register();
    for (let attempt = 0; attempt < ATTEMPTS_PER_ACCOUNT; attempt++)
      expect((await login(email, 'guess')).__typename).toBe('IncorrectCredentials');
    const limited = await login(email);
    expect(limited).toEqual({ __typename: 'TooManyLoginAttempts', retryAfterSeconds: expect.any(Number) });
    expect(limited.retryAfterSeconds).toBeGreaterThan(0);

    const address = '192.0.2.44';
    for (let attempt = 0; attempt < 5; attempt++) await login(`someone-${attempt}@example.com`, 'guess', address);
    expect((await login((await register()).email, PASSWORD, address)).__typename).toBe('TooManyLoginAttempts');
  });

  it('logs the session out, after which its refresh token is refused', async () => {
    const { email, userId, tenantId } = await register();
    const signedIn = await login(email);
    const caller: Identity = { kind: 'user', userId, tenantId, roles: ['OWNER' as never], sessionId: signedIn.sessionId };
    expect((await data('auth-service', caller, 'mutation { logout { sessionId } }')).logout).toEqual({ sessionId: signedIn.sessionId });
    expect((await data('auth-service', ANONYMOUS, REFRESH, { refreshToken: signedIn.refreshToken })).refreshSession).toEqual({
      __typename: 'InvalidRefreshToken',
      problem: 'REVOKED',
    });
    expect((await ask('auth-service', ANONYMOUS, 'mutation { logout { sessionId } }')).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('answers SERVICE_UNAVAILABLE, not an internal error, when user-auth is down', async () => {
    const response = await ask(withoutUserAuth, ANONYMOUS, LOGIN, { input: { email: 'someone@example.com', password: PASSWORD } });
    expect(response.errors?.map((error) => error.extensions?.code)).toEqual(['SERVICE_UNAVAILABLE']);
  });

  it('answers an empty email with BAD_USER_INPUT naming the field', async () => {
    const response = await ask('auth-service', ANONYMOUS, LOGIN, { input: { email: ' ', password: PASSWORD } });
    expect(response.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.email' } });
  });
});
