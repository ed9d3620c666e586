import type { Stoppable, SubgraphRuntime } from '@nexusflow/kit';
import type { TokenMgrConfig } from './config.ts';
import type { TokenMgrServices } from './context.ts';
import { AccessTokens } from './domain/access-tokens.ts';
import { KeyBox } from './domain/key-box.ts';
import { KeyRing } from './domain/key-ring.ts';

export function createTokenMgrServices(runtime: SubgraphRuntime, config: TokenMgrConfig): TokenMgrServices {
  const now = () => new Date(runtime.clock());
  const keys = new KeyRing(new KeyBox(config.keyEncryptionKey), {
    intervalMs: config.rotation.intervalMs,
    publicationLeadMs: config.rotation.publicationLeadMs,
    tokenTtlMs: config.accessTokenTtlSeconds * 1000,
  });
  return { database: runtime.database, keys, accessTokens: new AccessTokens(keys, config.accessTokenTtlSeconds, now), now };
}

/**
 * The rotation schedule: a first key before the service answers ready, then a check every KEY_ROTATION_CHECK_INTERVAL_MS
 * that publishes a successor when one is due and prunes what has expired (retired keys, revocations).
 */
export async function startKeyRotation(runtime: SubgraphRuntime, services: TokenMgrServices, config: TokenMgrConfig): Promise<Stoppable> {
  const rotate = async () => {
    await services.keys.rotate(services.database.fork(), services.now());
    await services.accessTokens.prune(services.database);
  };
  await rotate();
  if (!config.rotation.enabled) return { close: async () => {} };
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = rotate().catch((error: unknown) => runtime.logger.error({ err: error }, 'signing key rotation failed; retrying'));
  }, config.rotation.checkIntervalMs);
  timer.unref();
  return {
    close: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
