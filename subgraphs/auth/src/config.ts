import { parseConfig, secretOrDevelopmentDefault, sharedSecretSchema, subgraphEnv, toSubgraphConfig, type Environment } from '@nexusflow/kit';
import { z } from 'zod';

export const AUTH_DEFAULT_PORT = 3001;

const authEnvSchema = z.object({
    ...subgraphEnv(AUTH_DEFAULT_PORT),
    JWT_SECRET: sharedSecretSchema,
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
    REFRESH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).default(30 * 86_400),
});

export function loadAuthConfig(env?: Environment) {
  const parsed = parseConfig(authEnvSchema, env, { requiredInProduction: ['INTERNAL_SECRET', 'JWT_SECRET'] });
  return {
    subgraph: toSubgraphConfig('auth', parsed),
    jwtSecret: secretOrDevelopmentDefault(parsed.JWT_SECRET),
    accessTokenTtlSeconds: parsed.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: parsed.REFRESH_TOKEN_TTL_SECONDS,
  };
}

export type AuthConfig = ReturnType<typeof loadAuthConfig>;
