import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callSubgraph, Role, signIdentity, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { REVOCATIONS_PATH } from '@nexusflow/topology';
import { CLOSED_PORT_URL, startServices, TestServices } from '../../../../test/support/services.ts';
import type { SessionMgrServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';

const MINUTE_MS = 60_000;
const IDLE_MINUTES = 60;
const ABSOLUTE_HOURS = 3;

const CREATE = `mutation ($input: CreateSessionInput!) { createSession(input: $input) {
  session { id userId userAgent current } refreshToken refreshTokenExpiresAt } }`;
const ROTATE = `mutation ($refreshToken: String!) { rotateRefreshToken(refreshToken: $refreshToken) {
  __typename ... on RotatedRefreshToken { session { id } tenantId roles refreshToken } ... on RejectedRefreshToken { reason } } }`;
const REINSTATE = `mutation ($refreshToken: String!, $issuedRefreshToken: String!) {
  reinstateRefreshToken(refreshToken: $refreshToken, issuedRefreshToken: $issuedRefreshToken) }`;
const MINE = '{ mySessions { id current revokedAt } }';
const REVOKE = `mutation ($id: ID!) { revokeSession(id: $id) { __typename ... on Session { id revokedAt } ... on SessionNotFound { id } } }`;
const REVOKE_ALL = `mutation ($userId: ID) { revokeAllSessions(userId: $userId) { count } }`;
const ISSUE = `mutation ($input: IssueAccessTokenInput!) { issueAccessToken(input: $input) { jti } }`;

type User = Extract<Identity, { kind: 'user' }>;
const user = (tenantId: string = randomUUID(), roles = [Role.Member]): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

describe.each(storageModes(['postgres', 'redis']))('the session-mgr subgraph on $storage', ({ mode }) => {
  let services: TestServices;
  let sessionMgr: RunningSubgraph<SessionMgrServices>;
  let withoutTokenMgr: RunningSubgraph<SessionMgrServices>;
  let tokenMgr: RunningSubgraph<unknown>;
  let clock = Date.now();

  beforeAll(async () => {
    services = await TestServices.create(mode, `session_mgr_${mode}`);
    const running: Record<string, RunningSubgraph<unknown>> = {};
    await startServices(services, 'nexus-cos', ['key-service', 'token-mgr'], running, { 'token-mgr': { ROTATE_KEYS: 'off' } });
    tokenMgr = running['token-mgr']!;
    const settings = {
      SESSION_IDLE_TIMEOUT_MINUTES: String(IDLE_MINUTES),
      SESSION_ABSOLUTE_TIMEOUT_HOURS: String(ABSOLUTE_HOURS),
    };
    sessionMgr = await services.start(
      subgraph,
      { ...(await services.environmentFor('session-mgr')), ...settings, TOKEN_MGR_URL: tokenMgr.graphqlUrl },
      { clock: () => clock },
    );
    const down = await services.environmentFor('session-mgr_down');
    withoutTokenMgr = await services.start(subgraph, { ...down, DATA_DIR: `${down.DATA_DIR}/down`, TOKEN_MGR_URL: CLOSED_PORT_URL });
  });

  afterAll(async () => {
    await services?.close();
  });

  const ask = <T = Record<string, any>>(identity: Identity, query: string, variables: Record<string, unknown> = {}, to = sessionMgr) =>
    postGraphQL<T>(to.graphqlUrl, query, { variables, headers: signIdentity(identity, to.config.internalSecret) });
  const data = async (identity: Identity, query: string, variables: Record<string, unknown> = {}, to = sessionMgr) => {
    const response = await ask(identity, query, variables, to);
    expect(response.errors).toBeUndefined();
    return response.data!;
  };
  const start = async (holder: User, to = sessionMgr) =>
    (await data(holder, CREATE, { input: { userAgent: 'Test browser', clientAddress: '127.0.0.1' } }, to)).createSession as {
      session: { id: string };
      refreshToken: string;
    };
  const rotate = async (refreshToken: string, to = sessionMgr) =>
    (await data({ kind: 'anonymous' }, ROTATE, { refreshToken }, to)).rotateRefreshToken;
  const reinstate = async (refreshToken: string, issuedRefreshToken: string) =>
    (await data({ kind: 'anonymous' }, REINSTATE, { refreshToken, issuedRefreshToken })).reinstateRefreshToken as boolean;
  const inSession = (holder: User, sessionId: string): User => ({ ...holder, sessionId });
  const isRevokedAtTokenMgr = async (jti: string) =>
    ((await (await fetch(`${tokenMgr.url}${REVOCATIONS_PATH}${jti}`)).json()) as { revoked: boolean }).revoked;
  const accessTokenOf = async (holder: User, sessionId: string) =>
    (
      await callSubgraph<{ issueAccessToken: { jti: string } }, unknown>({
        url: tokenMgr.graphqlUrl,
        query: ISSUE,
        variables: { input: { userId: holder.userId, tenantId: holder.tenantId, roles: holder.roles, sessionId } },
        identity: holder,
        internalSecret: tokenMgr.config.internalSecret,
      })
    ).issueAccessToken.jti;

  it('starts a session that its user lists, marked current for its own access token', async () => {
    const holder = user();
    const { session } = await start(holder);
    expect(session).toMatchObject({ userId: holder.userId, userAgent: 'Test browser' });
    expect((await data(inSession(holder, session.id), MINE)).mySessions).toEqual([{ id: session.id, current: true, revokedAt: null }]);
    expect((await data(user(holder.tenantId), MINE)).mySessions).toEqual([]);
  });

  it('rotates refresh tokens, and revokes the session with its access tokens when a spent one comes back', async () => {
    const holder = user(randomUUID(), [Role.Admin]);
    const { session, refreshToken: first } = await start(holder);
    const jti = await accessTokenOf(holder, session.id);
    const second = await rotate(first);
    expect(second).toEqual({
      __typename: 'RotatedRefreshToken',
      session: { id: session.id },
      tenantId: holder.tenantId,
      roles: ['ADMIN'],
      refreshToken: expect.any(String),
    });
    const third = await rotate(second.refreshToken);
    expect(third.__typename).toBe('RotatedRefreshToken');
    expect(await isRevokedAtTokenMgr(jti)).toBe(false);

    expect(await rotate(first)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'REUSED' });
    expect(await rotate(third.refreshToken)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'REVOKED' });
    expect((await data(holder, MINE)).mySessions).toEqual([]);
    expect(await isRevokedAtTokenMgr(jti)).toBe(true);
    expect(await rotate('never-issued')).toEqual({ __typename: 'RejectedRefreshToken', reason: 'UNKNOWN' });
  });

  it('treats a refresh token presented twice at once as a replay: one exchange wins, the other revokes the session', async () => {
    const holder = user();
    const { refreshToken } = await start(holder);
    const outcomes = await Promise.all([rotate(refreshToken), rotate(refreshToken)]);
    expect(outcomes.map((outcome) => outcome.__typename).sort()).toEqual(['RejectedRefreshToken', 'RotatedRefreshToken']);
    expect(outcomes.find((outcome) => outcome.__typename === 'RejectedRefreshToken')).toMatchObject({ reason: 'REUSED' });
    expect((await data(holder, MINE)).mySessions).toEqual([]);
  });

  it('undoes a rotation whose new token reached nobody, only while that token is unused and within a minute', async () => {
    const holder = user();
    const { session, refreshToken: first } = await start(holder);
    const lost = await rotate(first);
    // Only the request that got the new token back may undo its rotation.
    expect(await reinstate(first, 'not-the-issued-token')).toBe(false);
    expect(await reinstate(first, lost.refreshToken)).toBe(true);
    // The token that went to nobody is withdrawn, and the one presented is exchanged as if for the first time.
    expect(await rotate(lost.refreshToken)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'UNKNOWN' });
    const second = await rotate(first);
    expect(second).toMatchObject({ __typename: 'RotatedRefreshToken', session: { id: session.id } });

    // Once the new token has been used, or a minute has passed, there is nothing to undo: a replay is a replay.
    const third = await rotate(second.refreshToken);
    const fourth = await rotate(third.refreshToken);
    expect(await reinstate(second.refreshToken, third.refreshToken)).toBe(false);
    clock += MINUTE_MS + 1;
    expect(await reinstate(third.refreshToken, fourth.refreshToken)).toBe(false);
    expect(await rotate(third.refreshToken)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'REUSED' });
    expect(await rotate(fourth.refreshToken)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'REVOKED' });
    expect(await reinstate('never-issued', fourth.refreshToken)).toBe(false);
  });

  it('ends a session unused for the idle timeout, and any session at the absolute timeout', async () => {
    const idle = await start(user());
    clock += (IDLE_MINUTES + 1) * MINUTE_MS;
    expect(await rotate(idle.refreshToken)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'EXPIRED' });

    let { refreshToken } = await start(user());
    for (let elapsed = 0; elapsed < ABSOLUTE_HOURS * 60 - IDLE_MINUTES / 2; elapsed += IDLE_MINUTES / 2) {
      clock += (IDLE_MINUTES / 2) * MINUTE_MS;
      const rotated = await rotate(refreshToken);
      expect(rotated.__typename).toBe('RotatedRefreshToken');
      refreshToken = rotated.refreshToken;
    }
    clock += (IDLE_MINUTES / 2) * MINUTE_MS;
    expect(await rotate(refreshToken)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'EXPIRED' });
  });

  it("lets a user revoke their own session, an ADMIN anyone's of the tenant, and nobody another tenant's", async () => {
    const holder = user();
    const { session, refreshToken } = await start(holder);
    const jti = await accessTokenOf(holder, session.id);
    const colleague = user(holder.tenantId);
    const stranger = user(randomUUID(), [Role.Owner]);
    for (const outsider of [colleague, stranger])
      expect((await data(outsider, REVOKE, { id: session.id })).revokeSession).toEqual({ __typename: 'SessionNotFound', id: session.id });
    expect(await isRevokedAtTokenMgr(jti)).toBe(false);

    const admin = user(holder.tenantId, [Role.Admin]);
    expect((await data(admin, REVOKE, { id: session.id })).revokeSession).toEqual({
      __typename: 'Session',
      id: session.id,
      revokedAt: expect.any(String),
    });
    expect(await isRevokedAtTokenMgr(jti)).toBe(true);
    expect(await rotate(refreshToken)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'REVOKED' });
  });

  it("revokes all of the caller's sessions, or an OWNER all of a user's, and refuses a MEMBER another's", async () => {
    const holder = user(randomUUID(), [Role.Viewer]);
    await start(holder);
    await start(holder);
    expect((await data(holder, REVOKE_ALL)).revokeAllSessions).toEqual({ count: 2 });
    const { refreshToken } = await start(holder);
    const refused = await ask(user(holder.tenantId), REVOKE_ALL, { userId: holder.userId });
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await data(user(randomUUID(), [Role.Owner]), REVOKE_ALL, { userId: holder.userId })).revokeAllSessions).toEqual({ count: 0 });
    expect((await data(user(holder.tenantId, [Role.Owner]), REVOKE_ALL, { userId: holder.userId })).revokeAllSessions).toEqual({
      count: 1,
    });
    expect(await rotate(refreshToken)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'REVOKED' });
  });

  it("lets only an OWNER end another OWNER's sessions, and an OWNER end their own", async () => {
    const owner = user(randomUUID(), [Role.Owner]);
    const { session } = await start(owner);
    const admin = user(owner.tenantId, [Role.Admin]);
    expect((await data(admin, REVOKE, { id: session.id })).revokeSession).toEqual({ __typename: 'SessionNotFound', id: session.id });
    expect((await ask(admin, REVOKE_ALL, { userId: owner.userId })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await data(owner, MINE)).mySessions).toEqual([expect.objectContaining({ id: session.id })]);
    expect((await data(user(owner.tenantId, [Role.Owner]), REVOKE, { id: session.id })).revokeSession).toMatchObject({
      __typename: 'Session',
    });
    await start(owner);
    expect((await data(owner, REVOKE_ALL, { userId: owner.userId })).revokeAllSessions).toEqual({ count: 1 });
  });

  it('answers SERVICE_UNAVAILABLE when token-mgr is down, with the session revoked all the same', async () => {
    const holder = user();
    const { session, refreshToken } = await start(holder, withoutTokenMgr);
    const revoked = await ask(holder, REVOKE, { id: session.id }, withoutTokenMgr);
    expect(revoked.errors?.map((error) => error.extensions?.code)).toEqual(['SERVICE_UNAVAILABLE']);
    expect(await rotate(refreshToken, withoutTokenMgr)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'REVOKED' });
  });

  it('answers a malformed id with BAD_USER_INPUT naming it, and an anonymous caller with UNAUTHENTICATED', async () => {
    expect((await ask(user(), REVOKE, { id: 'nope' })).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'id' } });
    expect((await ask({ kind: 'anonymous' }, MINE)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await ask({ kind: 'anonymous' }, CREATE, { input: {} })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
