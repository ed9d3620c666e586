import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityHeader, Role, signAccessToken, signIdentity } from '@nexusflow/kit';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { postGraphQL, type PostOptions, storageModes } from '@nexusflow/kit/testing';
import {
  LoginDocument,
  LogoutDocument,
  MeDocument,
  RefreshSessionDocument,
  RegisterDocument,
  UserByIdDocument,
  type RegisterMutation,
} from '@nexusflow/web-client';
import { startStack, type Stack } from '../support/stack.ts';

type Session = Extract<RegisterMutation['register'], { __typename: 'AuthSession' }>;

/** The sign-in journey of a web client, through the gateway, in each storage mode. */
describe('auth through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    const graphql = <T, V>(document: string | TypedDocumentNode<T, V>, options?: PostOptions<V>) =>
      postGraphQL(stack.gateway.graphqlUrl, document, options);

    const uniqueEmail = () => `user-${randomUUID()}@example.com`;

    async function register(email = uniqueEmail(), tenantName = 'Acme Robotics'): Promise<Session> {
      const response = await graphql(RegisterDocument, {
        variables: { input: { email, password: 'correct horse battery', name: 'Ada Lovelace', tenantName } },
      });
      expect(response.errors).toBeUndefined();
      const result = response.data?.register;
      if (result?.__typename !== 'AuthSession') throw new Error(`registration failed: ${JSON.stringify(result)}`);
      return result;
    }

    beforeAll(async () => {
      stack = await startStack(mode, `auth_flow_${mode}`);
    });

    afterAll(async () => {
      await stack?.close();
    });

    it('registers a tenant owner, signs in with the password, and answers me with the signed-in user', async () => {
      const email = uniqueEmail();
      const registered = await register(email, 'Globex Corporation');
      expect(registered.user).toMatchObject({ email, tenant: { name: 'Globex Corporation', slug: 'globex-corporation' } });

      const login = await graphql(LoginDocument, {
        variables: { input: { email: email.toUpperCase(), password: 'correct horse battery' } },
      });
      const session = login.data?.login;
      if (session?.__typename !== 'AuthSession') throw new Error(`login failed: ${JSON.stringify(session)}`);

      const me = await graphql(MeDocument, { token: session.accessToken });
      expect(me.errors).toBeUndefined();
      expect(me.data?.me).toMatchObject({
        id: registered.user.id,
        email,
        roles: ['OWNER'],
        tenant: { users: [{ id: registered.user.id, email }] },
      });
    });

    it('answers me with null for an anonymous caller', async () => {
      const me = await graphql(MeDocument);
      expect(me.status).toBe(200);
      expect(me.data).toEqual({ me: null });
    });

    it('refuses a wrong password without saying whether the email exists', async () => {
      const { user } = await register();
      const wrongPassword = await graphql(LoginDocument, {
        variables: { input: { email: user.email, password: 'not the password' } },
      });
      const unknownEmail = await graphql(LoginDocument, {
        variables: { input: { email: uniqueEmail(), password: 'not the password' } },
      });
      expect(wrongPassword.data?.login).toEqual({ __typename: 'InvalidCredentials', message: 'Email or password is incorrect' });
      expect(unknownEmail.data?.login).toEqual(wrongPassword.data?.login);
    });

    it('returns typed payloads for a taken email and for invalid fields', async () => {
      const { user } = await register();
      const again = await graphql(RegisterDocument, {
        variables: { input: { email: user.email, password: 'correct horse battery', name: 'Ada', tenantName: 'Other' } },
      });
      expect(again.data?.register).toMatchObject({ __typename: 'EmailAlreadyRegistered', email: user.email });

      const invalid = await graphql(RegisterDocument, {
        variables: { input: { email: 'not-an-email', password: 'short', name: '', tenantName: 'Initech' } },
      });
      const result = invalid.data?.register;
      if (result?.__typename !== 'InvalidInput') throw new Error(`expected InvalidInput, got ${JSON.stringify(result)}`);
      expect(result.fields.map((f) => f.field).sort()).toEqual(['email', 'name', 'password']);
    });

    it('refuses an expired access token with UNAUTHENTICATED', async () => {
      const { user } = await register();
      const anHourAgo = Date.now() - 3_600_000;
      const expired = await signAccessToken(
        { userId: user.id, tenantId: user.tenant.id, roles: [Role.Owner] },
        stack.authConfig.jwtSecret,
        60,
        anHourAgo,
      );
      const response = await graphql(MeDocument, { token: expired.token });
      expect(response.status).toBe(401);
      expect(response.data).toBeUndefined();
      expect(response.errors).toEqual([{ message: 'Access token has expired', extensions: { code: 'UNAUTHENTICATED' } }]);
    });

    it('refuses a token signed with another key instead of treating the caller as anonymous', async () => {
      const { user } = await register();
      const forged = await signAccessToken(
        { userId: user.id, tenantId: user.tenant.id, roles: [Role.Owner] },
        'an attacker secret that is at least 32 characters long',
        900,
      );
      const response = await graphql(MeDocument, { token: forged.token });
      expect(response.status).toBe(401);
      expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('rotates refresh tokens and revokes the whole session when a used one comes back', async () => {
      const session = await register();
      const first = await graphql(RefreshSessionDocument, { variables: { refreshToken: session.refreshToken } });
      const renewed = first.data?.refreshSession;
      if (renewed?.__typename !== 'AuthSession') throw new Error(`refresh failed: ${JSON.stringify(renewed)}`);
      const rotated = renewed.refreshToken;
      expect(rotated).not.toBe(session.refreshToken);

      const replay = await graphql(RefreshSessionDocument, { variables: { refreshToken: session.refreshToken } });
      expect(replay.data?.refreshSession).toMatchObject({ __typename: 'InvalidRefreshToken', problem: 'REUSED' });

      const afterReuse = await graphql(RefreshSessionDocument, { variables: { refreshToken: rotated } });
      expect(afterReuse.data?.refreshSession).toMatchObject({ __typename: 'InvalidRefreshToken', problem: 'REVOKED' });
    });

    it('ends the session on logout, so that its refresh token stops working', async () => {
      const session = await register();
      const logout = await graphql(LogoutDocument, { variables: { refreshToken: session.refreshToken } });
      expect(logout.data?.logout.loggedOut).toBe(true);
      const refresh = await graphql(RefreshSessionDocument, { variables: { refreshToken: session.refreshToken } });
      expect(refresh.data?.refreshSession).toMatchObject({ problem: 'REVOKED' });
      const again = await graphql(LogoutDocument, { variables: { refreshToken: session.refreshToken } });
      expect(again.data?.logout.loggedOut).toBe(false);
    });

    it('keeps tenants apart: a user of one tenant cannot read a user of another', async () => {
      const alice = await register(uniqueEmail(), 'Tenant A');
      const bob = await register(uniqueEmail(), 'Tenant B');
      const crossTenant = await graphql(UserByIdDocument, { token: bob.accessToken, variables: { id: alice.user.id } });
      expect(crossTenant.data).toEqual({ user: null });
      const sameTenant = await graphql(UserByIdDocument, { token: alice.accessToken, variables: { id: alice.user.id } });
      expect(sameTenant.data?.user?.id).toBe(alice.user.id);
    });

    describe('the auth subgraph called directly, bypassing the gateway', () => {
      const direct = (headers: Record<string, string>) => postGraphQL(stack.auth.graphqlUrl, MeDocument, { headers });

      it('refuses a request without identity headers', async () => {
        const response = await direct({});
        expect(response.status).toBe(401);
        expect(response.errors?.[0]).toEqual({
          message: 'Requests must come through the gateway',
          extensions: { code: 'UNAUTHENTICATED' },
        });
      });

      it('refuses an identity signed with a guessed secret', async () => {
        const { user } = await register();
        const identity = { kind: 'user' as const, userId: user.id, tenantId: user.tenant.id, roles: [Role.Owner] };
        const response = await direct(signIdentity(identity, 'a guessed secret that is long enough to look real'));
        expect(response.status).toBe(401);
        expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      });

      it('refuses a genuine anonymous signature whose identity was swapped for a user', async () => {
        const { user } = await register();
        const genuine = signIdentity({ kind: 'anonymous' }, stack.authConfig.subgraph.internalSecret);
        const impersonation = Buffer.from(
          JSON.stringify({ identity: { kind: 'user', userId: user.id, tenantId: user.tenant.id, roles: ['OWNER'] }, issuedAt: Date.now() }),
        ).toString('base64url');
        const response = await direct({ ...genuine, [IdentityHeader.Identity]: impersonation });
        expect(response.status).toBe(401);
      });

      it('accepts the identity the gateway signs', async () => {
        const { user } = await register();
        const identity = { kind: 'user' as const, userId: user.id, tenantId: user.tenant.id, roles: [Role.Owner] };
        const response = await direct(signIdentity(identity, stack.authConfig.subgraph.internalSecret));
        expect(response.status).toBe(200);
        expect(response.data).toMatchObject({ me: { id: user.id } });
      });
    });

    it('answers malformed GraphQL with a coded error and keeps serving', async () => {
      const broken = await graphql('query { me { id ');
      expect(broken.status).toBe(400);
      expect(broken.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
      const unknownField = await graphql('query { secrets }');
      expect(unknownField.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const notJson = await fetch(stack.gateway.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":',
      });
      expect(notJson.status).toBe(400);
      expect(await notJson.json()).toEqual({
        errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }],
      });
      expect((await graphql(MeDocument)).status).toBe(200);
    });

    it('limits the request rate per caller and says when to retry', async () => {
      const limited = await stack.startGateway({ RATE_LIMIT_PER_MINUTE: '3' });
      const { accessToken } = await register();
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await postGraphQL(limited.graphqlUrl, MeDocument, { token: accessToken })).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const refused = await postGraphQL(limited.graphqlUrl, MeDocument, { token: accessToken });
      expect(refused.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    });

    it('reports ready, with each subgraph up; when one does not answer, stays ready, names it, and answers SERVICE_UNAVAILABLE at its fields', async () => {
      const ready = await fetch(`${stack.gateway.url}/health/ready`);
      expect(ready.status).toBe(200);
      const up = { status: 'up' };
      expect(await ready.json()).toEqual({
        status: 'ready',
        checks: { supergraph: up },
        subgraphs: Object.fromEntries(Object.keys(stack.subgraphs).map((name) => [name, up])),
      });

      const cutOff = await stack.startGateway({ SUBGRAPH_AUTH_URL: 'http://127.0.0.1:9/graphql' });
      const degraded = await fetch(`${cutOff.url}/health/ready`);
      expect(degraded.status).toBe(200);
      const report = (await degraded.json()) as { status: string; subgraphs: Record<string, unknown> };
      expect(report).toMatchObject({ status: 'ready', subgraphs: { auth: { status: 'down', error: 'unreachable' }, workflows: up } });
      expect((await fetch(`${cutOff.url}/health/live`)).status).toBe(200);

      const query = await postGraphQL(cutOff.graphqlUrl, MeDocument);
      expect(query.data).toEqual({ me: null });
      expect(query.errors).toEqual([
        { message: 'The auth service is unavailable', path: ['me'], extensions: { code: 'SERVICE_UNAVAILABLE', serviceName: 'auth' } },
      ]);
    });
  });
});
