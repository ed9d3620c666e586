import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const userAuthEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'user-auth')),
  /** Where the verification link points: the web client's page, which sends `verifyEmail` with the link's token. */
  EMAIL_VERIFICATION_URL: z.url().default('http://localhost:5173/verify-email'),
  EMAIL_VERIFICATION_TTL_HOURS: z.coerce.number().int().min(1).max(720).default(48),
  /** Registrations allowed per client address per ACCOUNT_RATE_LIMIT_PERIOD_SECONDS. */
  REGISTER_RATE_LIMIT_PER_ADDRESS: z.coerce.number().int().min(1).default(20),
  /** Verification emails a user may have resent per ACCOUNT_RATE_LIMIT_PERIOD_SECONDS. */
  RESEND_VERIFICATION_RATE_LIMIT_PER_ACCOUNT: z.coerce.number().int().min(1).default(5),
  /** Password changes (right or wrong current password) a user may try per ACCOUNT_RATE_LIMIT_PERIOD_SECONDS. */
  CHANGE_PASSWORD_RATE_LIMIT_PER_ACCOUNT: z.coerce.number().int().min(1).default(10),
  ACCOUNT_RATE_LIMIT_PERIOD_SECONDS: z.coerce.number().int().min(1).default(3600),
});

export function loadUserAuthConfig(env?: Environment) {
  return loadSubgraphConfig('user-auth', userAuthEnvSchema, env, (parsed) => ({
    sessionMgrUrl: parsed.SESSION_MGR_URL,
    rateLimits: {
      registerPerAddress: parsed.REGISTER_RATE_LIMIT_PER_ADDRESS,
      resendVerificationPerAccount: parsed.RESEND_VERIFICATION_RATE_LIMIT_PER_ACCOUNT,
      changePasswordPerAccount: parsed.CHANGE_PASSWORD_RATE_LIMIT_PER_ACCOUNT,
      periodMs: parsed.ACCOUNT_RATE_LIMIT_PERIOD_SECONDS * 1000,
    },
    emailVerification: { url: parsed.EMAIL_VERIFICATION_URL, ttlMs: parsed.EMAIL_VERIFICATION_TTL_HOURS * 3_600_000 },
  }));
}

export type UserAuthConfig = ReturnType<typeof loadUserAuthConfig>;
