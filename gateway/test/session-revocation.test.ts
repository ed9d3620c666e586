import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createRevokedSessions, Role, signAccessToken } from '@nexusflow/kit/core';
import { recordingLogger, testEnvironment } from '@nexusflow/kit/testing';
import { authenticateCredentials, SESSION_REVOKED_MESSAGE } from '../src/authenticate.ts';
import { sessionRevocation, type SessionRevocation } from '../src/session-revocation.ts';

const SECRET = 'session-revocation-test-secret-of-32-chars';
const INTERNAL_SECRET = 'session-revocation-internal-secret-of-32-chars';

describe('the gateway checking sessions against the revoked ones', () => {
  const opened: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const closable of opened) await closable.close();
  });

  function revocation(options: Partial<Parameters<typeof sessionRevocation>[0]>): SessionRevocation {
    const checker = sessionRevocation({
      redisUrl: undefined,
      redisNamespace: 'nexusflow',
      authUrl: () => undefined,
      supergraphLoaded: () => true,
      internalSecret: INTERNAL_SECRET,
      cacheMs: 0,
      logger: recordingLogger().logger,
      ...options,
    });
    opened.push(checker);
    return checker;
  }

  it("refuses an access token whose session is revoked, over HTTP and WebSocket alike, and lets a live session's token through", async () => {
    const sessionId = randomUUID();
    const { token } = await signAccessToken({ userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Member], sessionId }, SECRET, 900);
    const revoked = async (id: string) => id === sessionId;
    const refusal = { error: 'invalid_token', message: SESSION_REVOKED_MESSAGE };

    expect(await authenticateCredentials({ authorizationHeader: `Bearer ${token}` }, SECRET, Date.now, undefined, revoked)).toEqual(
      refusal,
    );
    expect(await authenticateCredentials({ connectionParams: { token } }, SECRET, Date.now, undefined, revoked)).toEqual(refusal);
    expect(await authenticateCredentials({ connectionParams: { token } }, SECRET, Date.now, undefined, async () => false)).toMatchObject({
      identity: { userId: 'user-1', sessionId },
    });
  });

  it('accepts the session, with a warning, when the auth subgraph cannot say (as the rate limits fail open)', async () => {
    const { logger, warned } = recordingLogger();
    const checker = revocation({ authUrl: () => 'http://127.0.0.1:1/graphql', logger });

    expect(await checker.isRevoked(randomUUID())).toBe(false);
    await warned('revoked sessions unavailable; accepting the session');
  });

  it('accepts the session without a warning per request when the supergraph served has no auth subgraph to ask', async () => {
    const { logger, warnings } = recordingLogger();
    const checker = revocation({ authUrl: () => undefined, supergraphLoaded: () => true, logger });

    expect(await checker.isRevoked(randomUUID())).toBe(false);
    expect(await checker.isRevoked(randomUUID())).toBe(false);

    expect(warnings).toEqual([]);
  });

  it('warns while no supergraph is loaded yet', async () => {
    const { logger, warned } = recordingLogger();
    const checker = revocation({ authUrl: () => undefined, supergraphLoaded: () => false, logger });

    expect(await checker.isRevoked(randomUUID())).toBe(false);
    await warned('revoked sessions unavailable; accepting the session');
  });

  describe.runIf(testEnvironment.redisUrl)('with the real Redis', () => {
    const redisNamespace = `revocation-${randomUUID()}`;

    it('sees what auth revoked in the shared Redis, reusing an answer for its cache period only', async () => {
      const auth = createRevokedSessions(testEnvironment.redisUrl, recordingLogger().logger, { prefix: `${redisNamespace}:` });
      opened.push(auth);
      const cached = revocation({ redisUrl: testEnvironment.redisUrl, redisNamespace, cacheMs: 60_000 });
      const uncached = revocation({ redisUrl: testEnvironment.redisUrl, redisNamespace, cacheMs: 0 });
      const sessionId = randomUUID();
      expect(await cached.isRevoked(sessionId)).toBe(false);

      await auth.revoke(sessionId, Date.now() + 60_000);

      expect(await uncached.isRevoked(sessionId)).toBe(true);
      expect(await cached.isRevoked(sessionId)).toBe(false);
    });
  });
});
