import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, RedisRevokedSessions, type Identity } from '@nexusflow/kit';
import { storageModes, testEnvironment } from '@nexusflow/kit/testing';
import { startAuthUnderTest, type AuthUnderTest } from './support/auth-under-test.ts';

const PASSWORD = 'correct horse battery';
const SESSION_FIELDS = 'accessToken refreshToken';
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { __typename ... on AuthSession { ${SESSION_FIELDS} } } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { __typename ... on AuthSession { ${SESSION_FIELDS} } } }`;
const REFRESH = `mutation ($token: String!) {
  refreshSession(refreshToken: $token) { __typename ... on AuthSession { ${SESSION_FIELDS} } ... on InvalidRefreshToken { problem } }
}`;
const LOGOUT = `mutation ($token: String!) { logout(refreshToken: $token) { loggedOut } }`;
const MY_SESSIONS = `{ mySessions { id device ipAddress createdAt lastSeenAt expiresAt revokedAt current } }`;
const REVOKE = `mutation ($id: ID!) {
  revokeSession(id: $id) { __typename ... on Session { id revokedAt current } ... on SessionNotFound { id message } }
}`;
const REVOKE_ALL = `mutation ($all: Boolean!) { revokeAllSessions(includeCurrent: $all) { revokedCount } }`;
const SESSION_REVOKED = `query ($id: ID!) { sessionRevoked(id: $id) }`;

type User = Extract<Identity, { kind: 'user' }>;

/** A sign-in as a client holds it: its tokens, and the identity the gateway derives from its access token. */
interface SignIn {
  identity: User & { sessionId: string };
  refreshToken: string;
}

/** Where a request comes from, as the gateway signs it. */
interface Client {
  address: string;
  userAgent: string;
}

const LAPTOP: Client = { address: '203.0.113.7', userAgent: 'Mozilla/5.0 (Macintosh) Firefox/140.0' };
const PHONE: Client = { address: '198.51.100.9', userAgent: 'NexusFlow-iOS/5.3' };

/**
 * Sessions in the auth subgraph, asked as the gateway would (signed identities carrying the client's address and
 * User-Agent), on a clock the test moves. In the postgres mode the revoked sessions are in the real Redis, where a
 * gateway reads them; in the embedded mode in the subgraph's memory, which the gateway reaches through sessionRevoked.
 */
describe('Sessions in the auth subgraph', () => {
  describe.each(storageModes(['postgres', 'redis']))('on $storage', ({ mode }) => {
    let auth: AuthUnderTest;
    /** What a gateway sharing the Redis reads (postgres mode only). */
    let gatewayView: RedisRevokedSessions | undefined;
    const clock = { now: Date.now() };

    beforeAll(async () => {
      const env: Record<string, string> = {};
      if (mode === 'postgres') {
        env.REDIS_URL = testEnvironment.redisUrl!;
        env.REDIS_NAMESPACE = `sessions-${randomUUID()}`;
        gatewayView = new RedisRevokedSessions(env.REDIS_URL, createLogger({ name: 'test', level: 'silent' }), {
          prefix: `${env.REDIS_NAMESPACE}:`,
        });
      }
      auth = await startAuthUnderTest(mode, 'sessions', env, clock);
    });

    afterAll(async () => {
      await gatewayView?.close();
      await auth?.close();
    });

    const ask = (identity: Identity, query: string, variables: Record<string, unknown> = {}, client?: Client) =>
      auth.ask(identity, query, variables, client);

    async function signedIn(session: { __typename: string; accessToken: string; refreshToken: string }): Promise<SignIn> {
      if (session.__typename !== 'AuthSession') throw new Error(`not signed in: ${JSON.stringify(session)}`);
      const identity = await auth.identityOf(session.accessToken);
      if (!identity.sessionId) throw new Error('no session in the token');
      return { identity: identity as SignIn['identity'], refreshToken: session.refreshToken };
    }

    async function register(client: Client): Promise<{ email: string; first: SignIn }> {
      const email = `sessions-${randomUUID()}@example.com`;
      const input = { email, password: PASSWORD, name: 'Ada', tenantName: 'Acme' };
      return { email, first: await signedIn((await ask({ kind: 'anonymous' }, REGISTER, { input }, client)).data?.register) };
    }

    async function login(email: string, client: Client): Promise<SignIn> {
      return signedIn((await ask({ kind: 'anonymous' }, LOGIN, { input: { email, password: PASSWORD } }, client)).data?.login);
    }

    async function sessionsOf(signIn: SignIn) {
      const response = await ask(signIn.identity, MY_SESSIONS);
      expect(response.errors).toBeUndefined();
      return response.data!.mySessions as Record<string, unknown>[];
    }

    async function refresh(signIn: SignIn, client?: Client) {
      return (await ask({ kind: 'anonymous' }, REFRESH, { token: signIn.refreshToken }, client)).data?.refreshSession;
    }

    /** What the gateway is told about a session's access tokens, by the subgraph and, with Redis, by Redis itself. */
    async function gatewayRefuses(sessionId: string): Promise<boolean> {
      const answer = (await ask({ kind: 'anonymous' }, SESSION_REVOKED, { id: sessionId })).data?.sessionRevoked as boolean;
      if (gatewayView) expect(await gatewayView.isRevoked(sessionId)).toBe(answer);
      return answer;
    }

    it('lists the sessions of the user with device, address and last seen, marking the one asking as current', async () => {
      const { email, first: laptop } = await register(LAPTOP);
      clock.now += 60_000;
      const phone = await login(email, PHONE);

      const sessions = await sessionsOf(phone);

      expect(sessions).toEqual([
        expect.objectContaining({ id: phone.identity.sessionId, device: PHONE.userAgent, ipAddress: PHONE.address, current: true }),
        expect.objectContaining({ id: laptop.identity.sessionId, device: LAPTOP.userAgent, ipAddress: LAPTOP.address, current: false }),
      ]);
      expect(sessions[0]!.lastSeenAt).toBe(new Date(clock.now).toISOString());
      expect(sessions[1]).toMatchObject({ revokedAt: null, lastSeenAt: sessions[1]!.createdAt });
    });

    it('records a refresh as the session being seen again, from where it came, keeping its id', async () => {
      const { email, first: laptop } = await register(LAPTOP);
      const phone = await login(email, PHONE);
      clock.now += 5 * 60_000;
      const moved = { ...LAPTOP, address: '192.0.2.44' };

      const refreshed = await signedIn(await refresh(laptop, moved));

      expect(refreshed.identity.sessionId).toBe(laptop.identity.sessionId);
      const [latest] = await sessionsOf(phone);
      expect(latest).toMatchObject({
        id: laptop.identity.sessionId,
        ipAddress: moved.address,
        lastSeenAt: new Date(clock.now).toISOString(),
      });
    });

    it('revokes one session: its refresh token stops, the gateway is told, and the other session lives on', async () => {
      const { email, first: laptop } = await register(LAPTOP);
      const phone = await login(email, PHONE);

      const revoked = (await ask(laptop.identity, REVOKE, { id: phone.identity.sessionId })).data?.revokeSession;

      expect(revoked).toEqual({
        __typename: 'Session',
        id: phone.identity.sessionId,
        revokedAt: new Date(clock.now).toISOString(),
        current: false,
      });
      expect(await refresh(phone)).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REVOKED' });
      expect(await gatewayRefuses(phone.identity.sessionId)).toBe(true);
      expect(await gatewayRefuses(laptop.identity.sessionId)).toBe(false);
      expect((await sessionsOf(laptop)).map((session) => session.id)).toEqual([laptop.identity.sessionId]);
      expect(await refresh(laptop)).toMatchObject({ __typename: 'AuthSession' });
    });

    it('keeps a session revoked while its refresh is under way revoked: the refresh fails, or the token it gives is revoked too', async () => {
      const { email, first: laptop } = await register(LAPTOP);
      // One after the other: sign-ins at once are throttled as guesses would be.
      const phones: SignIn[] = [];
      for (let count = 0; count < 10; count += 1) phones.push(await login(email, PHONE));
      const refreshed = await Promise.all(
        phones.map(async (phone) => {
          const [answer] = await Promise.all([refresh(phone), ask(laptop.identity, REVOKE, { id: phone.identity.sessionId })]);
          return answer as { __typename: string; refreshToken?: string };
        }),
      );
      for (const answer of refreshed) {
        if (answer.__typename !== 'AuthSession') {
          expect(answer).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REVOKED' });
          continue;
        }
        const again = await ask({ kind: 'anonymous' }, REFRESH, { token: answer.refreshToken });
        expect(again.data?.refreshSession).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REVOKED' });
      }
    });

    it('revokes every other session, keeping the current one unless told to include it', async () => {
      const { email, first: laptop } = await register(LAPTOP);
      const [phone, tablet] = await Promise.all([login(email, PHONE), login(email, { ...PHONE, userAgent: 'Tablet/1' })]);

      expect((await ask(laptop.identity, REVOKE_ALL, { all: false })).data?.revokeAllSessions).toEqual({ revokedCount: 2 });

      expect(await gatewayRefuses(phone.identity.sessionId)).toBe(true);
      expect(await gatewayRefuses(tablet.identity.sessionId)).toBe(true);
      expect(await gatewayRefuses(laptop.identity.sessionId)).toBe(false);
      expect(await sessionsOf(laptop)).toEqual([expect.objectContaining({ id: laptop.identity.sessionId, current: true })]);

      expect((await ask(laptop.identity, REVOKE_ALL, { all: true })).data?.revokeAllSessions).toEqual({ revokedCount: 1 });
      expect(await gatewayRefuses(laptop.identity.sessionId)).toBe(true);
      expect(await refresh(laptop)).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REVOKED' });
    });

    it("answers SessionNotFound for another user's session, another tenant's, an unknown or a malformed id, and ends none", async () => {
      const { first: owner } = await register(LAPTOP);
      const { first: stranger } = await register(PHONE);
      const colleague: User = { kind: 'user', userId: randomUUID(), tenantId: owner.identity.tenantId, roles: owner.identity.roles };

      for (const [caller, id] of [
        [colleague, owner.identity.sessionId],
        [stranger.identity, owner.identity.sessionId],
        [owner.identity, randomUUID()],
        [owner.identity, 'not-a-session'],
      ] as const) {
        const answer = (await ask(caller, REVOKE, { id })).data?.revokeSession;
        expect(answer).toEqual({ __typename: 'SessionNotFound', id, message: `No session ${id}` });
      }
      expect((await ask(stranger.identity, REVOKE_ALL, { all: true })).data?.revokeAllSessions).toEqual({ revokedCount: 1 });

      expect(await gatewayRefuses(owner.identity.sessionId)).toBe(false);
      expect(await sessionsOf(owner)).toEqual([expect.objectContaining({ id: owner.identity.sessionId })]);
    });

    it('ends the session for the gateway too on logout, and when a used refresh token comes back', async () => {
      const { email, first: laptop } = await register(LAPTOP);
      const phone = await login(email, PHONE);

      expect((await ask({ kind: 'anonymous' }, LOGOUT, { token: laptop.refreshToken })).data?.logout).toEqual({ loggedOut: true });
      await refresh(phone);
      expect(await refresh(phone)).toEqual({ __typename: 'InvalidRefreshToken', problem: 'REUSED' });

      expect(await gatewayRefuses(laptop.identity.sessionId)).toBe(true);
      expect(await gatewayRefuses(phone.identity.sessionId)).toBe(true);
    });

    it('refuses to list or revoke sessions for an anonymous caller', async () => {
      const response = await ask({ kind: 'anonymous' }, MY_SESSIONS);

      expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });
  });
});
