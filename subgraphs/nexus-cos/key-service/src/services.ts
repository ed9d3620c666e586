import { OutboxRelay, PeriodicTask, systemFork, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { KeyServiceConfig } from './config.ts';
import type { KeyServiceServices } from './context.ts';
import { KeyAuditTrail } from './domain/audit-trail.ts';
import { KeyVault } from './domain/key-vault.ts';
import { MasterKeyRing } from './domain/master-key.ts';

export function createKeyServiceServices(runtime: SubgraphRuntime, config: KeyServiceConfig): KeyServiceServices {
  const relay = new OutboxRelay(runtime.database, runtime.eventBus, runtime.logger);
  const vault = new KeyVault({
    masterKeys: new MasterKeyRing(config.masterKey, config.previousMasterKeys),
    rotationIntervalMs: config.rotationIntervalMs,
    now: () => new Date(runtime.clock()),
    logger: runtime.logger,
    onEventsRecorded: () => relay.notify(),
  });
  return { vault, auditTrail: new KeyAuditTrail(), relay };
}

/** One maintenance pass: rotates the tenant keys that are due, then re-seals material under a previous master key. */
export async function maintainKeys(runtime: SubgraphRuntime, services: KeyServiceServices): Promise<{ rotated: number; resealed: number }> {
  const rotated = await services.vault.rotateDue(systemFork(runtime.database));
  const resealed = await services.vault.resealUnderCurrentMasterKey(systemFork(runtime.database));
  if (rotated > 0 || resealed > 0) runtime.logger.info({ rotated, resealed }, 'tenant keys maintained');
  return { rotated, resealed };
}

/**
 * The outbox relay, and the maintenance schedule: a pass at start, then every KEY_MAINTENANCE_INTERVAL_MS. A tenant key
 * is rotated once its current version is KEY_ROTATION_INTERVAL_DAYS old, so within one interval of that.
 */
export async function startKeyMaintenance(
  runtime: SubgraphRuntime,
  services: KeyServiceServices,
  config: KeyServiceConfig,
): Promise<Stoppable> {
  services.relay.start();
  const task = new PeriodicTask(() => maintainKeys(runtime, services), {
    logger: runtime.logger,
    failureMessage: 'tenant key maintenance failed; retrying at the next pass',
    immediately: config.maintenanceIntervalMs > 0,
  }).start(config.maintenanceIntervalMs);
  return {
    close: async () => {
      await task.stop();
      await services.relay.stop();
    },
  };
}
