import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { recordingLogger, testEnvironment } from '../testing/index.ts';
import { createRevokedSessions, InProcessRevokedSessions, RedisRevokedSessions, type RevokedSessions } from './revoked-sessions.ts';

describe('InProcessRevokedSessions', () => {
  it('holds a revoked session until its last access token expires, then forgets it', async () => {
    const clock = { now: 1_000_000 };
    const revoked = new InProcessRevokedSessions(() => clock.now);
    await revoked.revoke('laptop', clock.now + 900_000);

    expect(await revoked.isRevoked('laptop')).toBe(true);
    expect(await revoked.isRevoked('phone')).toBe(false);
    clock.now += 900_000;
    expect(await revoked.isRevoked('laptop')).toBe(false);
  });

  it('keeps the later expiry when a session is revoked twice', async () => {
    const clock = { now: 0 };
    const revoked = new InProcessRevokedSessions(() => clock.now);
    await revoked.revoke('laptop', 2_000);
    await revoked.revoke('laptop', 1_000);

    clock.now = 1_500;
    expect(await revoked.isRevoked('laptop')).toBe(true);
  });

  it('is what createRevokedSessions gives without a Redis URL', () => {
    expect(createRevokedSessions(undefined, recordingLogger().logger)).toBeInstanceOf(InProcessRevokedSessions);
  });
});

describe.runIf(testEnvironment.redisUrl)('RedisRevokedSessions on the real Redis', () => {
  const redisUrl = testEnvironment.redisUrl!;
  const prefix = `nexusflow-test-${randomUUID()}:`;
  const opened: RevokedSessions[] = [];
  const inspector = new Redis(redisUrl);

  afterAll(async () => {
    for (const sessions of opened) await sessions.close();
    await inspector.quit();
  });

  function open(): RevokedSessions {
    const sessions = createRevokedSessions(redisUrl, recordingLogger().logger, { prefix });
    opened.push(sessions);
    return sessions;
  }

  it("shares one instance's revocation with every other, as a key under the namespace that expires with the last token", async () => {
    const [auth, gateway] = [open(), open()];
    expect(auth).toBeInstanceOf(RedisRevokedSessions);
    const sessionId = randomUUID();

    await auth.revoke(sessionId, Date.now() + 60_000);

    expect(await gateway.isRevoked(sessionId)).toBe(true);
    expect(await gateway.isRevoked(randomUUID())).toBe(false);
    const ttl = await inspector.pttl(`${prefix}sessions:revoked:${sessionId}`);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('writes nothing for a session whose tokens have all expired already', async () => {
    const sessionId = randomUUID();

    await open().revoke(sessionId, Date.now() - 1);

    expect(await inspector.exists(`${prefix}sessions:revoked:${sessionId}`)).toBe(0);
  });
});
