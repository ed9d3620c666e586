import { loadSubgraphConfig, secretOrDevelopmentDefault, sharedSecretSchema, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';
import type { ThrottlingSettings } from './domain/auth-service.ts';
import type { BackoffPolicy } from './domain/throttle.ts';

const count = () => z.coerce.number().int().min(0);
const seconds = () => z.coerce.number().int().min(1);

const authEnvSchema = z
  .object({
    ...subgraphEnv(serviceDefaults('nexusflow', 'auth')),
    JWT_SECRET: sharedSecretSchema,
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
    REFRESH_TOKEN_TTL_SECONDS: z.coerce
      .number()
      .int()
      .min(60)
      .default(30 * 86_400),
    /** Failed sign-ins to one email (registered or not) before each further attempt waits. */
    LOGIN_FAILURES_PER_ACCOUNT: count().min(1).default(5),
    /** Failed sign-ins from one client address (an IPv6 /64) before each further attempt waits; 0 turns the limit off. */
    LOGIN_FAILURES_PER_ADDRESS: count().default(20),
    /** The first wait once the failures are used up; it doubles with every further failure. */
    LOGIN_DELAY_FIRST_SECONDS: seconds().default(1),
    LOGIN_DELAY_MAX_SECONDS: seconds().default(15 * 60),
    /** Failures older than this stop counting. */
    LOGIN_FAILURE_WINDOW_SECONDS: seconds().default(15 * 60),
    /** Registrations one client address (an IPv6 /64) may attempt per window; 0 turns the limit off. */
    REGISTRATIONS_PER_ADDRESS: count().default(10),
    REGISTRATION_WINDOW_SECONDS: seconds().default(60 * 60),
  })
  .refine((env) => env.LOGIN_DELAY_MAX_SECONDS >= env.LOGIN_DELAY_FIRST_SECONDS, {
    path: ['LOGIN_DELAY_MAX_SECONDS'],
    message: 'must be at least LOGIN_DELAY_FIRST_SECONDS',
  })
  // A wait longer than the window would be cut short when the failures it follows stop counting.
  .refine((env) => env.LOGIN_DELAY_MAX_SECONDS <= env.LOGIN_FAILURE_WINDOW_SECONDS, {
    path: ['LOGIN_DELAY_MAX_SECONDS'],
    message: 'must be at most LOGIN_FAILURE_WINDOW_SECONDS',
  });

export function loadAuthConfig(env?: Environment) {
  return loadSubgraphConfig(
    'auth',
    authEnvSchema,
    env,
    (parsed) => {
      const loginBackoff = (allowance: number): BackoffPolicy => ({
        kind: 'backoff',
        allowance,
        firstDelayMs: parsed.LOGIN_DELAY_FIRST_SECONDS * 1000,
        maxDelayMs: parsed.LOGIN_DELAY_MAX_SECONDS * 1000,
        windowMs: parsed.LOGIN_FAILURE_WINDOW_SECONDS * 1000,
      });
      const throttling: ThrottlingSettings = {
        loginsPerAccount: loginBackoff(parsed.LOGIN_FAILURES_PER_ACCOUNT),
        loginsPerAddress: parsed.LOGIN_FAILURES_PER_ADDRESS > 0 ? loginBackoff(parsed.LOGIN_FAILURES_PER_ADDRESS) : undefined,
        registrationsPerAddress:
          parsed.REGISTRATIONS_PER_ADDRESS > 0
            ? { kind: 'quota', allowance: parsed.REGISTRATIONS_PER_ADDRESS, windowMs: parsed.REGISTRATION_WINDOW_SECONDS * 1000 }
            : undefined,
      };
      return {
        jwtSecret: secretOrDevelopmentDefault(parsed.JWT_SECRET),
        accessTokenTtlSeconds: parsed.ACCESS_TOKEN_TTL_SECONDS,
        refreshTokenTtlSeconds: parsed.REFRESH_TOKEN_TTL_SECONDS,
        throttling,
      };
    },
    { requiredInProduction: ['JWT_SECRET'] },
  );
}

export type AuthConfig = ReturnType<typeof loadAuthConfig>;
