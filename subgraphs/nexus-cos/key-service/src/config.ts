import { loadSubgraphConfig, secretOrDevelopmentDefault, sharedSecretSchema, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const DAY_MS = 86_400_000;

const keyServiceEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'key-service')),
  /** Seals every tenant key-encryption key at rest. */
  KEY_SERVICE_MASTER_KEY: sharedSecretSchema,
  /**
   * Master keys being retired, comma-separated, newest first: tenant keys sealed under one of them still open, and the
   * maintenance pass re-seals them under KEY_SERVICE_MASTER_KEY.
   */
  KEY_SERVICE_PREVIOUS_MASTER_KEYS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((key) => key.trim())
        .filter((key) => key !== ''),
    )
    .pipe(z.array(z.string().min(32, 'each must be at least 32 characters'))),
  /** How long a tenant key version wraps new data keys before the schedule rotates it. */
  KEY_ROTATION_INTERVAL_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /** How often the maintenance pass looks for tenant keys due for rotation and material to re-seal; 0: never (tests). */
  KEY_MAINTENANCE_INTERVAL_MS: z.coerce.number().int().min(0).default(3_600_000),
});

export function loadKeyServiceConfig(env?: Environment) {
  return loadSubgraphConfig(
    'key-service',
    keyServiceEnvSchema,
    env,
    (parsed) => ({
      masterKey: secretOrDevelopmentDefault(parsed.KEY_SERVICE_MASTER_KEY),
      previousMasterKeys: parsed.KEY_SERVICE_PREVIOUS_MASTER_KEYS,
      rotationIntervalMs: parsed.KEY_ROTATION_INTERVAL_DAYS * DAY_MS,
      maintenanceIntervalMs: parsed.KEY_MAINTENANCE_INTERVAL_MS,
    }),
    { requiredInProduction: ['KEY_SERVICE_MASTER_KEY'] },
  );
}

export type KeyServiceConfig = ReturnType<typeof loadKeyServiceConfig>;
