import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { postGraphQL, storageModes, type GraphQLResponse } from '@nexusflow/kit/testing';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import { signUp, TEST_PASSWORD, type SignedUp } from '../support/accounts.ts';
import { errorCodes } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';

const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { __typename ... on AuthSession { accessToken refreshToken } } }`;
const REFRESH = `mutation ($token: String!) {
  refreshSession(refreshToken: $token) { __typename ... on AuthSession { accessToken } ... on InvalidRefreshToken { problem } }
}`;
const MY_SESSIONS = `{ mySessions { id device ipAddress createdAt lastSeenAt current } }`;
const REVOKE = `mutation ($id: ID!) { revokeSession(id: $id) { __typename ... on Session { id revokedAt } ... on SessionNotFound { id } } }`;
const REVOKE_ALL = `mutation { revokeAllSessions { revokedCount } }`;
const ME = `{ me { id } }`;

interface SignIn {
  accessToken: string;
  refreshToken: string;
}

/** A graphql-ws connection, and how it ended. */
interface Connection {
  client: Client;
  closed: Promise<{ code: number; reason: string }>;
}

/**
 * Sessions end to end: a user signed in on two devices lists them, revokes one, and its access token stops working on
 * every gateway instance, over HTTP and WebSocket, within the gateways' revocation cache (1 s) and their connection
 * checks (every 1 s), while the other device carries on. Two gateways share what auth revoked: through Redis in the
 * postgres mode, by asking the auth subgraph in the embedded one.
 */
describe('Sessions through two gateways', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let gateways: [RunningGateway, RunningGateway];
    const connections: Client[] = [];

    beforeAll(async () => {
      stack = await startStack(mode, `sessions_${mode}`);
      // Both read the namespace auth writes revoked sessions under, as in production where both default to the graph's name.
      gateways = [await stack.startGateway(), await stack.startGateway()];
    });

    afterAll(async () => {
      for (const client of connections) await client.dispose();
      await stack?.close();
    });

    function send(
      gateway: RunningGateway,
      document: string,
      options: { token?: string; variables?: Record<string, unknown>; device?: string },
    ) {
      return postGraphQL<Record<string, any>>(gateway.graphqlUrl, document, {
        ...(options.token ? { token: options.token } : {}),
        ...(options.variables ? { variables: options.variables } : {}),
        ...(options.device ? { headers: { 'user-agent': options.device } } : {}),
      });
    }

    async function login(owner: SignedUp, device: string): Promise<SignIn> {
      const response = await send(gateways[0], LOGIN, { variables: { input: { email: owner.email, password: TEST_PASSWORD } }, device });
      const session = response.data?.login;
      if (session?.__typename !== 'AuthSession') throw new Error(`login failed: ${JSON.stringify(response)}`);
      return session;
    }

    async function sessionsSeenBy(signIn: SignIn) {
      const response = await send(gateways[0], MY_SESSIONS, { token: signIn.accessToken });
      expect(response.errors).toBeUndefined();
      return response.data!.mySessions as { id: string; device: string | null; ipAddress: string | null; current: boolean }[];
    }

    async function currentSessionId(signIn: SignIn): Promise<string> {
      return (await sessionsSeenBy(signIn)).find((session) => session.current)!.id;
    }

    /** Opens a connection and waits until the gateway accepted it. */
    async function connect(gateway: RunningGateway, signIn: SignIn): Promise<Connection> {
      let opened!: () => void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      let ended!: (event: { code: number; reason: string }) => void;
      const closed = new Promise<{ code: number; reason: string }>((resolve) => (ended = resolve));
      const client = createClient({
        url: gateway.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${signIn.accessToken}` },
        retryAttempts: 0,
        lazy: false,
        // The close is what these tests watch for; graphql-ws would print it otherwise.
        onNonLazyError: () => {},
        on: {
          connected: () => opened(),
          closed: (event) => {
            const { code, reason } = event as { code: number; reason: string };
            ended({ code, reason });
          },
        },
      });
      connections.push(client);
      await Promise.race([open, closed]);
      return { client, closed };
    }

    async function meOver(connection: Connection) {
      const { value } = await connection.client.iterate({ query: ME }).next();
      return value as { data?: { me: { id: string } } };
    }

    function expectRevoked(response: GraphQLResponse<unknown>) {
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
      expect(response.errors?.[0]?.message).toBe('Session has been revoked; sign in again');
    }

    it('lists the sessions of a user signed in on two devices, with device, address and which one is asking', async () => {
      const owner = await signUp(gateways[0].graphqlUrl, 'sessions-list');
      const laptop = await login(owner, 'Laptop/1.0');
      const phone = await login(owner, 'Phone/2.0');

      const sessions = await sessionsSeenBy(laptop);

      expect(sessions).toHaveLength(3);
      expect(sessions.filter((session) => session.current)).toEqual([expect.objectContaining({ device: 'Laptop/1.0' })]);
      expect(sessions.map((session) => session.device)).toEqual(expect.arrayContaining(['Laptop/1.0', 'Phone/2.0']));
      for (const session of sessions) expect(session.ipAddress).toMatch(/127\.0\.0\.1|::1/);
      expect((await sessionsSeenBy(phone)).find((session) => session.current)?.device).toBe('Phone/2.0');
    });

    it('cuts a revoked session off on both gateways, over HTTP and WebSocket, while the other session carries on', async () => {
      const owner = await signUp(gateways[0].graphqlUrl, 'sessions-revoke');
      const laptop = await login(owner, 'Laptop/1.0');
      const phone = await login(owner, 'Phone/2.0');
      const phoneConnections = [await connect(gateways[0], phone), await connect(gateways[1], phone)];
      const laptopConnection = await connect(gateways[1], laptop);
      expect((await meOver(phoneConnections[1]!)).data?.me.id).toBe(owner.userId);

      const revokedAt = performance.now();
      const revoked = await send(gateways[0], REVOKE, { token: laptop.accessToken, variables: { id: await currentSessionId(phone) } });
      expect(revoked.data?.revokeSession.__typename).toBe('Session');

      for (const connection of phoneConnections)
        expect(await connection.closed).toEqual({ code: 4401, reason: 'Session has been revoked; sign in again' });
      // Each gateway's answer is cached at most 1 s and connections are checked every second: about 2 s at worst.
      expect(performance.now() - revokedAt).toBeLessThan(5_000);
      for (const gateway of gateways) expectRevoked(await send(gateway, ME, { token: phone.accessToken }));
      await expect((await connect(gateways[1], phone)).closed).resolves.toMatchObject({ code: 4403 });
      expect((await send(gateways[0], REFRESH, { variables: { token: phone.refreshToken } })).data?.refreshSession).toEqual({
        __typename: 'InvalidRefreshToken',
        problem: 'REVOKED',
      });

      for (const gateway of gateways) expect((await send(gateway, ME, { token: laptop.accessToken })).data?.me.id).toBe(owner.userId);
      expect((await meOver(laptopConnection)).data?.me.id).toBe(owner.userId);
      expect((await send(gateways[1], REFRESH, { variables: { token: laptop.refreshToken } })).data?.refreshSession.__typename).toBe(
        'AuthSession',
      );
    });

    it('signs out everywhere else, keeping the session that asked', async () => {
      const owner = await signUp(gateways[0].graphqlUrl, 'sessions-all');
      const laptop = await login(owner, 'Laptop/1.0');
      const phone = await login(owner, 'Phone/2.0');
      const phoneConnection = await connect(gateways[1], phone);

      const response = await send(gateways[0], REVOKE_ALL, { token: laptop.accessToken });

      expect(response.data?.revokeAllSessions).toEqual({ revokedCount: 2 });
      expect(await phoneConnection.closed).toMatchObject({ code: 4401 });
      expectRevoked(await send(gateways[1], ME, { token: phone.accessToken }));
      expect((await send(gateways[1], ME, { token: laptop.accessToken })).data?.me.id).toBe(owner.userId);
      expect(await sessionsSeenBy(laptop)).toEqual([expect.objectContaining({ device: 'Laptop/1.0', current: true })]);
    });

    it("answers SessionNotFound for another user's session and leaves it working", async () => {
      const [owner, stranger] = await Promise.all([
        signUp(gateways[0].graphqlUrl, 'sessions-owner'),
        signUp(gateways[0].graphqlUrl, 'sessions-stranger'),
      ]);
      const laptop = await login(owner, 'Laptop/1.0');
      const id = await currentSessionId(laptop);

      const response = await send(gateways[0], REVOKE, { token: stranger.token, variables: { id } });

      expect(response.data?.revokeSession).toEqual({ __typename: 'SessionNotFound', id });
      expect((await send(gateways[1], ME, { token: laptop.accessToken })).data?.me.id).toBe(owner.userId);
    });
  });
});
