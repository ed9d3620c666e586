import { loadSubgraphConfig, secretOrDevelopmentDefault, sharedSecretSchema, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const auditEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexusflow', 'audit')),
  /** The public origin of GET /exports/audit on this service (the gateway does not proxy it). */
  AUDIT_EXPORT_BASE_URL: z.url().optional(),
  /** How often entries past retention are pruned; 0 turns pruning off (e.g. when a scheduler runs it instead). */
  AUDIT_PRUNE_INTERVAL_MS: z.coerce.number().int().min(0).default(3_600_000),
  /** Bus events appended at once; appends of one tenant wait for each other on its chain head anyway. */
  AUDIT_EVENT_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  /**
   * The key of the trail's keyed hashes (HMAC-SHA256): whoever can write to the database but lacks it cannot make an
   * edited entry hash right. Kept out of the database; changing it makes every entry hashed under the old one a break.
   */
  AUDIT_CHAIN_KEY: sharedSecretSchema,
});

export function loadAuditConfig(env?: Environment) {
  return loadSubgraphConfig(
    'audit',
    auditEnvSchema,
    env,
    (parsed) => ({
      exportBaseUrl: parsed.AUDIT_EXPORT_BASE_URL ?? `http://localhost:${parsed.PORT}`,
      pruneIntervalMs: parsed.AUDIT_PRUNE_INTERVAL_MS,
      eventConcurrency: parsed.AUDIT_EVENT_CONCURRENCY,
      chainKey: secretOrDevelopmentDefault(parsed.AUDIT_CHAIN_KEY),
    }),
    { requiredInProduction: ['AUDIT_CHAIN_KEY'] },
  );
}

export type AuditConfig = ReturnType<typeof loadAuditConfig>;
