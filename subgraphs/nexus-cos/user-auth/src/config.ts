import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const userAuthEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'user-auth')),
  /** Where the verification link points: the web client's page, which sends `verifyEmail` with the link's token. */
  EMAIL_VERIFICATION_URL: z.url().default('http://localhost:5173/verify-email'),
  EMAIL_VERIFICATION_TTL_HOURS: z.coerce.number().int().min(1).max(720).default(48),
});

export function loadUserAuthConfig(env?: Environment) {
  return loadSubgraphConfig('user-auth', userAuthEnvSchema, env, (parsed) => ({
    emailVerification: { url: parsed.EMAIL_VERIFICATION_URL, ttlMs: parsed.EMAIL_VERIFICATION_TTL_HOURS * 3_600_000 },
  }));
}

export type UserAuthConfig = ReturnType<typeof loadUserAuthConfig>;
