import type { Stoppable, SubgraphRuntime } from '@nexusflow/kit';
import type { TokenMgrConfig } from './config.ts';
import type { TokenMgrServices } from './context.ts';
import { AccessTokens } from './domain/access-tokens.ts';
import { KeyBox } from './domain/key-box.ts';
import { KeyRing } from './domain/key-ring.ts';
import { SigningKeyVault } from './domain/signing-key-vault.ts';

export function createTokenMgrServices(runtime: SubgraphRuntime, config: TokenMgrConfig): TokenMgrServices {
  const now = () => new Date(runtime.clock());
  const vault = new SigningKeyVault(
    { url: config.keyServiceUrl, internalSecret: config.subgraph.internalSecret },
    new KeyBox(config.keyEncryptionKey),
  );
  const keys = new KeyRing(vault, {
    intervalMs: config.rotation.intervalMs,
    publicationLeadMs: config.rotation.publicationLeadMs,
    tokenTtlMs: config.accessTokenTtlSeconds * 1000,
  });
  return { database: runtime.database, keys, vault, accessTokens: new AccessTokens(keys, config.accessTokenTtlSeconds, now), now };
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
  try {
    await rotate();
  } catch (error) {
    // Most often key-service, which wraps the private keys, is not running where KEY_SERVICE_URL points.
    throw new Error(`token-mgr could not prepare its signing keys (is key-service up at ${config.keyServiceUrl}?)`, { cause: error });
  }
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
