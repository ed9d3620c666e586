import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { JWKS_PATH } from '@nexusflow/topology';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import { LossyProxy } from '../support/lossy-proxy.ts';
import { routesFor, startServices, TestServices } from '../support/services.ts';

/**
 * Nexus COS's critical path 1, as a web client walks it through backend-api: user-auth registers and verifies,
 * auth-service signs in (credentials from user-auth, a session from session-mgr, an access token from token-mgr), the
 * gateway verifies that token from token-mgr's JWKS, and logging out or replaying a refresh token ends the session.
 */
const PASSWORD = 'correct horse battery';
const SIGNED_IN = 'accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt sessionId user { id email name role }';
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) {
  __typename ... on Registered { user { id email emailVerified organisation { id name } } } } }`;
const VERIFY = `mutation ($token: String!) { verifyEmail(token: $token) { __typename ... on User { id emailVerified } } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { __typename
  ... on SignedIn { ${SIGNED_IN} } ... on IncorrectCredentials { message } ... on AccountDeactivated { message }
  ... on TooManyLoginAttempts { retryAfterSeconds } } }`;
const REFRESH = `mutation ($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { __typename
  ... on SignedIn { ${SIGNED_IN} } ... on InvalidRefreshToken { problem } ... on AccountDeactivated { message } } }`;
const LOGOUT = 'mutation { logout { sessionId } }';
const ME = '{ me { id email name role emailVerified active organisation { id name } } }';
const MY_SESSIONS = '{ mySessions { id current userAgent } }';
const MY_SIGN_INS = '{ mySignIns { sessionId user { id email } } }';
const CREATE_USER = `mutation ($input: CreateUserInput!) { createUser(input: $input) { __typename ... on User { id role } } }`;
const STATUS = '{ __typename ... on User { id active } ... on UserNotFound { id } }';

interface SignedIn {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  user: { id: string; email: string; role: string };
}

describe.each(storageModes(['postgres', 'redis']))('the Nexus COS authentication path through backend-api on $storage', ({ mode }) => {
  let services: TestServices;
  let gateway: RunningGateway;
  /** Between auth-service and token-mgr: loses the answers it is told to lose. */
  let toTokenMgr: LossyProxy;
  const running: Record<string, RunningSubgraph<unknown>> = {};
  /** The verification links user-auth delivered (its development delivery logs them), by recipient. */
  const links = new Map<string, string>();

  beforeAll(async () => {
    services = await TestServices.create(mode, `cos_auth_path_${mode}`);
    await startServices(services, 'nexus-cos', ['key-service', 'token-mgr', 'user-auth', 'session-mgr'], running, {
      'key-service': { KEY_MAINTENANCE_INTERVAL_MS: '0' },
      'token-mgr': { ROTATE_KEYS: 'off' },
    });
    toTokenMgr = await new LossyProxy(running['token-mgr']!.graphqlUrl).start();
    services.onClose(() => toTokenMgr.close());
    await startServices(services, 'nexus-cos', ['auth-service'], running, { 'auth-service': { TOKEN_MGR_URL: toTokenMgr.url } });
    const userAuth = running['user-auth']!;
    const logInfo = userAuth.logger.info;
    userAuth.logger.info = (...args: unknown[]) => {
      const email = args[0] as { to?: string; link?: string } | undefined;
      if (email?.to && email.link) links.set(email.to, email.link);
      Reflect.apply(logInfo, userAuth.logger, args);
    };
    gateway = await services.startGateway('nexus-cos', routesFor('nexus-cos', running), {
      ACCESS_TOKEN_JWKS_URL: `${running['token-mgr']!.url}${JWKS_PATH}`,
      // A revocation is seen at the next request: the tests look right after logging out.
      SESSION_REVOCATION_CACHE_MS: '0',
    });
  });

  afterAll(async () => {
    await services?.close();
  });

  const send = <T = Record<string, any>>(token: string | undefined, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<T>(gateway.graphqlUrl, query, { ...(token ? { token } : {}), variables });
  const data = async (token: string | undefined, query: string, variables?: Record<string, unknown>) => {
    const response = await send(token, query, variables);
    expect(response.errors, query).toBeUndefined();
    return response.data!;
  };
  const codes = (response: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
    response.errors?.map((error) => error.extensions?.code);
  const register = async (organisationName = 'Nexus Studio') => {
    const email = `owner-${randomUUID()}@example.com`;
    const input = { email, password: PASSWORD, name: 'Olive Owner', organisationName };
    const { register: registered } = await data(undefined, REGISTER, { input });
    expect(registered.__typename).toBe('Registered');
    return { email, id: registered.user.id as string, organisationId: registered.user.organisation.id as string };
  };
  const login = async (email: string, password = PASSWORD): Promise<SignedIn> => {
    const { login: result } = await data(undefined, LOGIN, { input: { email, password } });
    expect(result.__typename).toBe('SignedIn');
    return result;
  };
  const refresh = async (refreshToken: string) => (await data(undefined, REFRESH, { refreshToken })).refreshSession;

  it('registers, verifies the email, signs in, asks as the user, refreshes and logs out, after which both tokens are refused', async () => {
    const owner = await register();
    const token = new URL(links.get(owner.email)!).searchParams.get('token');
    expect((await data(undefined, VERIFY, { token })).verifyEmail).toEqual({ __typename: 'User', id: owner.id, emailVerified: true });

    const signedIn = await login(owner.email);
    expect(signedIn.user).toEqual({ id: owner.id, email: owner.email, name: 'Olive Owner', role: 'OWNER' });
    expect((await data(signedIn.accessToken, ME)).me).toEqual({
      id: owner.id,
      email: owner.email,
      name: 'Olive Owner',
      role: 'OWNER',
      emailVerified: true,
      active: true,
      organisation: { id: owner.organisationId, name: 'Nexus Studio' },
    });
    expect((await data(signedIn.accessToken, MY_SESSIONS)).mySessions).toEqual([
      { id: signedIn.sessionId, current: true, userAgent: expect.any(String) },
    ]);
    expect((await data(signedIn.accessToken, MY_SIGN_INS)).mySignIns).toEqual([
      { sessionId: signedIn.sessionId, user: { id: owner.id, email: owner.email } },
    ]);
    expect((await data(signedIn.accessToken, 'mutation { resendVerificationEmail }')).resendVerificationEmail).toBe(false);

    const refreshed = await refresh(signedIn.refreshToken);
    expect(refreshed).toMatchObject({ __typename: 'SignedIn', sessionId: signedIn.sessionId, user: signedIn.user });
    expect((await data(refreshed.accessToken, ME)).me.id).toBe(owner.id);

    expect((await data(refreshed.accessToken, LOGOUT)).logout).toEqual({ sessionId: signedIn.sessionId });
    for (const accessToken of [refreshed.accessToken, signedIn.accessToken])
      expect(codes(await send(accessToken, ME))).toEqual(['UNAUTHENTICATED']);
    expect(await refresh(refreshed.refreshToken)).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REVOKED' });
    expect((await data(undefined, LOGIN, { input: { email: owner.email, password: 'wrong password' } })).login).toEqual({
      __typename: 'IncorrectCredentials',
      message: expect.any(String),
    });
  });

  it('lets a client retry a refresh that failed after its rotation, and still treats a later replay as one', async () => {
    const owner = await register();
    const signedIn = await login(owner.email);
    // token-mgr issues the new access token, and its answer is lost: the refresh fails after session-mgr rotated.
    toTokenMgr.loseAnswers('IssueAccessToken', 1);
    expect(codes(await send(undefined, REFRESH, { refreshToken: signedIn.refreshToken }))).toEqual(['SERVICE_UNAVAILABLE']);
    expect(toTokenMgr.lost).toContain('IssueAccessToken');

    // Told to try again, the client has only the token it presented, and the retry signs it in.
    const retried = await refresh(signedIn.refreshToken);
    expect(retried).toMatchObject({ __typename: 'SignedIn', sessionId: signedIn.sessionId, user: signedIn.user });
    expect((await data(retried.accessToken, ME)).me.id).toBe(owner.id);
    const next = await refresh(retried.refreshToken);
    expect(next.__typename).toBe('SignedIn');

    expect(await refresh(signedIn.refreshToken)).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REUSED' });
    expect(codes(await send(next.accessToken, ME))).toEqual(['UNAUTHENTICATED']);
  });

  it('revokes the session, and refuses its access tokens, when a spent refresh token is replayed', async () => {
    const owner = await register();
    const signedIn = await login(owner.email);
    const refreshed = await refresh(signedIn.refreshToken);
    expect(await refresh(signedIn.refreshToken)).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REUSED' });
    expect(codes(await send(refreshed.accessToken, ME))).toEqual(['UNAUTHENTICATED']);
    expect(await refresh(refreshed.refreshToken)).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REVOKED' });
  });

  it('lets an OWNER manage users: a VIEWER reads but is refused every change, and a deactivated user cannot sign in', async () => {
    const owner = await register();
    const ownerToken = (await login(owner.email)).accessToken;
    const viewerEmail = `viewer-${randomUUID()}@example.com`;
    const input = { email: viewerEmail, password: PASSWORD, name: 'Vic Viewer', role: 'VIEWER' };
    const viewerId = (await data(ownerToken, CREATE_USER, { input })).createUser.id as string;

    const viewer = await login(viewerEmail);
    expect(viewer.user.role).toBe('VIEWER');
    expect((await data(viewer.accessToken, '{ users(first: 10) { id } }')).users).toHaveLength(2);
    expect((await data(viewer.accessToken, 'query ($id: ID!) { user(id: $id) { id } }', { id: owner.id })).user).toEqual({ id: owner.id });
    expect(codes(await send(viewer.accessToken, 'mutation { updateProfile(input: { name: "Vic" }) { id } }'))).toEqual(['FORBIDDEN']);
    const again = { ...input, email: `other-${randomUUID()}@example.com` };
    expect(codes(await send(viewer.accessToken, CREATE_USER, { input: again }))).toEqual(['FORBIDDEN']);
    const change = { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' };
    const changePassword = 'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) { __typename } }';
    expect(codes(await send(viewer.accessToken, changePassword, { input: change }))).toEqual(['FORBIDDEN']);

    expect((await data(ownerToken, `mutation ($id: ID!) { deactivateUser(id: $id) ${STATUS} }`, { id: viewerId })).deactivateUser).toEqual({
      __typename: 'User',
      id: viewerId,
      active: false,
    });
    expect((await data(undefined, LOGIN, { input: { email: viewerEmail, password: PASSWORD } })).login.__typename).toBe(
      'AccountDeactivated',
    );
    // Deactivating ended the user's sessions at once: their refresh token is revoked.
    expect(await refresh(viewer.refreshToken)).toMatchObject({ __typename: 'InvalidRefreshToken' });
    expect(codes(await send(viewer.accessToken, ME))).toEqual(['UNAUTHENTICATED']);
    expect((await data(ownerToken, `mutation ($id: ID!) { reactivateUser(id: $id) ${STATUS} }`, { id: viewerId })).reactivateUser).toEqual({
      __typename: 'User',
      id: viewerId,
      active: true,
    });
    const back = await login(viewerEmail);
    expect(
      (await data(ownerToken, 'mutation ($userId: ID) { revokeAllSessions(userId: $userId) { count } }', { userId: viewerId }))
        .revokeAllSessions,
    ).toEqual({ count: 1 });
    expect(codes(await send(back.accessToken, ME))).toEqual(['UNAUTHENTICATED']);

    expect((await data(ownerToken, changePassword, { input: change })).changePassword).toEqual({ __typename: 'User' });
    await login(owner.email, change.newPassword);
  });

  it("keeps organisations apart: a stranger's owner sees none of another's users and ends none of its sessions", async () => {
    const [a, b] = [await register('A'), await register('B')];
    const [aSignedIn, bSignedIn] = [await login(a.email), await login(b.email)];
    expect((await data(bSignedIn.accessToken, 'query ($id: ID!) { user(id: $id) { id } }', { id: a.id })).user).toBeNull();
    expect((await data(bSignedIn.accessToken, '{ users { id } }')).users).toEqual([{ id: b.id }]);
    const deactivated = await data(bSignedIn.accessToken, `mutation ($id: ID!) { deactivateUser(id: $id) ${STATUS} }`, { id: a.id });
    expect(deactivated.deactivateUser).toEqual({ __typename: 'UserNotFound', id: a.id });
    const revoked = await data(bSignedIn.accessToken, 'mutation ($id: ID!) { revokeSession(id: $id) { __typename } }', {
      id: aSignedIn.sessionId,
    });
    expect(revoked.revokeSession).toEqual({ __typename: 'SessionNotFound' });
    const all = await data(bSignedIn.accessToken, 'mutation ($userId: ID) { revokeAllSessions(userId: $userId) { count } }', {
      userId: a.id,
    });
    expect(all.revokeAllSessions).toEqual({ count: 0 });
    expect((await data(aSignedIn.accessToken, ME)).me.id).toBe(a.id);
    expect((await data(aSignedIn.accessToken, MY_SESSIONS)).mySessions).toEqual([
      { id: aSignedIn.sessionId, current: true, userAgent: expect.any(String) },
    ]);
    const own = await data(aSignedIn.accessToken, 'mutation ($id: ID!) { revokeSession(id: $id) { __typename ... on Session { id } } }', {
      id: aSignedIn.sessionId,
    });
    expect(own.revokeSession).toEqual({ __typename: 'Session', id: aSignedIn.sessionId });
    expect(codes(await send(aSignedIn.accessToken, ME))).toEqual(['UNAUTHENTICATED']);
  });
});
