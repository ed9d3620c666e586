import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callSubgraph, Role, secretOrDevelopmentDefault, signAccessToken, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { JWKS_PATH, subgraphRouteVariable, topology } from '@nexusflow/topology';
import { definitionOf, TestServices } from '../../../../test/support/services.ts';
import type { RunningGateway } from '../../../../gateway/src/gateway.ts';
import type { TokenMgrServices } from '../src/context.ts';

const HOUR_MS = 3_600_000;
/** token-mgr's default KEY_ROTATION_INTERVAL_HOURS. */
const ROTATION_MS = 24 * 7 * HOUR_MS;
const { issuer, audience } = topology['nexus-cos'].accessTokens;

const ISSUE = `mutation ($input: IssueAccessTokenInput!) { issueAccessToken(input: $input) { token jti } }`;
const KEYS = '{ signingKeys { id activatesAt } }';
const VERIFY = `query ($token: String!) { verifyAccessToken(token: $token) {
  __typename ... on VerifiedAccessToken { userId tenantId roles } ... on RejectedAccessToken { reason } } }`;
const REVOKE = `mutation ($token: String!) { revokeAccessToken(token: $token) {
  __typename ... on RevokedAccessToken { jti } ... on AccessTokenNotRevocable { message } } }`;

type User = Extract<Identity, { kind: 'user' }>;
const user = (tenantId: string, roles = [Role.Member]): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

describe.each(storageModes(['postgres', 'redis']))(
  'COS access tokens of token-mgr through the nexus-cos gateway (backend-api) on $storage',
  ({ mode }) => {
    let services: TestServices;
    let tokenMgr: RunningSubgraph<TokenMgrServices>;
    let gateway: RunningGateway;
    let clock = Date.now();

    beforeAll(async () => {
      services = await TestServices.create(mode, `token_mgr_gateway_${mode}`);
      // token-mgr's private keys are wrapped by key-service: it starts first.
      const keyService = await services.start(await definitionOf('nexus-cos', 'key-service'), {
        ...(await services.environmentFor('key-service')),
        KEY_MAINTENANCE_INTERVAL_MS: '0',
      });
      const definition = (await definitionOf('nexus-cos', 'token-mgr')) as unknown as Parameters<typeof services.start>[0];
      tokenMgr = (await services.start(
        definition,
        { ...(await services.environmentFor('token-mgr')), KEY_SERVICE_URL: keyService.graphqlUrl, ROTATE_KEYS: 'off' },
        {
          clock: () => clock,
          // The gateway signs identities by the same moved clock.
          now: () => clock,
        },
      )) as RunningSubgraph<TokenMgrServices>;
      gateway = await services.startGateway(
        'nexus-cos',
        { [subgraphRouteVariable('token-mgr')]: tokenMgr.graphqlUrl },
        // Every test meets keys the gateway has not fetched yet, and revocations at once.
        { ACCESS_TOKEN_JWKS_URL: `${tokenMgr.url}${JWKS_PATH}`, ACCESS_TOKEN_JWKS_COOLDOWN_MS: '0', SESSION_REVOCATION_CACHE_MS: '0' },
        { now: () => clock },
      );
    });

    afterAll(async () => {
      await services?.close();
    });

    /** What auth-service will do once a sign-in succeeds: ask token-mgr, internally, for a token. */
    const issue = async (holder: User) =>
      (
        await callSubgraph<{ issueAccessToken: { token: string; jti: string } }, unknown>({
          url: tokenMgr.graphqlUrl,
          query: ISSUE,
          variables: { input: { userId: holder.userId, tenantId: holder.tenantId, roles: holder.roles } },
          identity: { kind: 'anonymous' },
          internalSecret: tokenMgr.config.internalSecret,
          now: () => clock,
        })
      ).issueAccessToken;
    const send = <T = Record<string, any>>(token: string | undefined, query: string, variables?: Record<string, unknown>) =>
      postGraphQL<T>(gateway.graphqlUrl, query, { ...(token ? { token } : {}), variables });
    const codes = (response: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
      response.errors?.map((error) => error.extensions?.code);

    it('accepts a token issued by token-mgr for an authenticated query, and refuses the query without one', async () => {
      const holder = user(randomUUID(), [Role.Admin]);
      const { token } = await issue(holder);
      const keys = await send<{ signingKeys: { id: string }[] }>(token, KEYS);
      expect(keys.errors).toBeUndefined();
      expect(keys.data?.signingKeys.length).toBeGreaterThan(0);
      expect((await send(token, VERIFY, { token })).data).toEqual({
        verifyAccessToken: { __typename: 'VerifiedAccessToken', userId: holder.userId, tenantId: holder.tenantId, roles: ['ADMIN'] },
      });
      expect(codes(await send(undefined, KEYS))).toEqual(['UNAUTHENTICATED']);
    });

    it('still accepts a token of the retired key during the overlap, beside tokens of its successor', async () => {
      const holder = user(randomUUID());
      const { token: old } = await issue(holder);
      const activatedAt = Math.max(
        ...(await send<{ signingKeys: { activatesAt: string }[] }>(old, KEYS)).data!.signingKeys.map((key) => Date.parse(key.activatesAt)),
      );
      const rotateAt = async (at: number) => {
        clock = at;
        await tokenMgr.services.keys.rotate(tokenMgr.database.fork(), new Date(clock));
      };
      // Published two publication leads ahead, as the schedule (every minute) does; it signs from the boundary on.
      await rotateAt(activatedAt + ROTATION_MS - 2 * HOUR_MS);
      clock = activatedAt + ROTATION_MS - 1000;
      const { token: lastOfOld } = await issue(holder);
      await rotateAt(activatedAt + ROTATION_MS);
      const { token: fresh } = await issue(holder);
      expect(decodeProtectedHeader(fresh).kid).not.toBe(decodeProtectedHeader(lastOfOld).kid);
      for (const token of [lastOfOld, fresh]) expect((await send(token, KEYS)).errors, token).toBeUndefined();
    });

    it('refuses a revoked token with UNAUTHENTICATED once its holder revoked it', async () => {
      const holder = user(randomUUID(), [Role.Viewer]);
      const { token, jti } = await issue(holder);
      const revoked = await send(token, REVOKE, { token });
      expect(revoked.errors).toBeUndefined();
      expect(revoked.data).toEqual({ revokeAccessToken: { __typename: 'RevokedAccessToken', jti } });
      expect(codes(await send(token, KEYS))).toEqual(['UNAUTHENTICATED']);
    });

    it("does not let another tenant's owner revoke a token, which keeps working", async () => {
      const { token } = await issue(user(randomUUID()));
      const stranger = await issue(user(randomUUID(), [Role.Owner]));
      expect((await send(stranger.token, REVOKE, { token })).data).toEqual({
        revokeAccessToken: { __typename: 'AccessTokenNotRevocable', message: expect.any(String) },
      });
      expect((await send(token, KEYS)).errors).toBeUndefined();
    });

    it('refuses with UNAUTHENTICATED a token signed by a key token-mgr does not publish, and a NexusFlow token', async () => {
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const forged = await new SignJWT({ tid: randomUUID(), roles: ['OWNER'] })
        .setProtectedHeader({ alg: 'EdDSA', kid: randomUUID() })
        .setSubject(randomUUID())
        .setIssuer(issuer)
        .setAudience(audience)
        .setJti(randomUUID())
        .setIssuedAt(Math.floor(clock / 1000))
        .setExpirationTime(Math.floor(clock / 1000) + 900)
        .sign(privateKey);
      expect(codes(await send(forged, KEYS))).toEqual(['UNAUTHENTICATED']);
      const nexusflow = await signAccessToken(
        { userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Owner] },
        secretOrDevelopmentDefault(undefined),
        900,
        clock,
      );
      expect(codes(await send(nexusflow.token, KEYS))).toEqual(['UNAUTHENTICATED']);
    });
  },
);
