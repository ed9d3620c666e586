import { loadSubgraphConfig, secretOrDevelopmentDefault, sharedSecretSchema, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const HOUR_MS = 3_600_000;

const tokenMgrEnvSchema = z
  .object({
    ...subgraphEnv(serviceDefaults('nexus-cos', 'token-mgr')),
    /** Opens the private signing keys sealed before key-service wrapped them; the next rotation moves them there. */
    TOKEN_KEY_ENCRYPTION_KEY: sharedSecretSchema,
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
    KEY_ROTATION_INTERVAL_HOURS: z.coerce
      .number()
      .int()
      .min(1)
      .max(8760)
      .default(24 * 7),
    /** How long before it signs a new key is published: longer than any verifier caches the JWKS. */
    KEY_PUBLICATION_LEAD_MINUTES: z.coerce.number().int().min(1).max(10_080).default(60),
    KEY_ROTATION_CHECK_INTERVAL_MS: z.coerce.number().int().min(100).default(60_000),
    /** Off in tests that rotate by hand; the embedded default and production rotate on their own. */
    ROTATE_KEYS: z.enum(['on', 'off']).default('on'),
  })
  .refine((env) => env.KEY_PUBLICATION_LEAD_MINUTES * 60_000 < env.KEY_ROTATION_INTERVAL_HOURS * HOUR_MS, {
    path: ['KEY_PUBLICATION_LEAD_MINUTES'],
    message: 'must be shorter than KEY_ROTATION_INTERVAL_HOURS',
  });

export function loadTokenMgrConfig(env?: Environment) {
  return loadSubgraphConfig(
    'token-mgr',
    tokenMgrEnvSchema,
    env,
    (parsed) => ({
      keyEncryptionKey: secretOrDevelopmentDefault(parsed.TOKEN_KEY_ENCRYPTION_KEY),
      /** key-service, which wraps the private signing keys under the platform tenant's key. */
      keyServiceUrl: parsed.KEY_SERVICE_URL,
      accessTokenTtlSeconds: parsed.ACCESS_TOKEN_TTL_SECONDS,
      rotation: {
        /** How long a key signs before its successor takes over. */
        intervalMs: parsed.KEY_ROTATION_INTERVAL_HOURS * HOUR_MS,
        publicationLeadMs: parsed.KEY_PUBLICATION_LEAD_MINUTES * 60_000,
        checkIntervalMs: parsed.KEY_ROTATION_CHECK_INTERVAL_MS,
        enabled: parsed.ROTATE_KEYS === 'on',
      },
    }),
    { requiredInProduction: ['TOKEN_KEY_ENCRYPTION_KEY'] },
  );
}

export type TokenMgrConfig = ReturnType<typeof loadTokenMgrConfig>;
