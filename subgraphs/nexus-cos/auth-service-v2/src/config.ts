import {
  loadSubgraphConfig,
  secretOrDevelopmentDefault,
  sharedSecretSchema,
  subgraphEnv,
  type Environment,
  type JwksAccessTokenSettings,
} from '@nexusflow/kit';
import { JWKS_PATH, REVOCATIONS_PATH, serviceDefaults, topology } from '@nexusflow/topology';
import { z } from 'zod';

const defaults = serviceDefaults('nexus-cos', 'auth-service-v2');
const DAY_SECONDS = 86_400;

const authServiceV2EnvSchema = z.object({
  ...subgraphEnv(defaults),
  /** Seals the signing keys and client secrets at rest; the cookies of the authorization flow are signed with a key derived from it. */
  OAUTH_KEY_ENCRYPTION_KEY: sharedSecretSchema,
  /**
   * The issuer identifier third-party apps know this server by (`iss` of its ID tokens, the base of its discovery
   * document): the public URL of this service, without a trailing slash. Unset: `http://localhost:<PORT>`.
   */
  OAUTH_ISSUER: z
    .url()
    .refine((value) => !value.endsWith('/'), 'must not end with "/"')
    .optional(),
  OAUTH_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(DAY_SECONDS).default(3600),
  OAUTH_REFRESH_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(300)
    .max(365 * DAY_SECONDS)
    .default(30 * DAY_SECONDS),
  /** How often expired provider records (codes, tokens, sessions, interactions) are deleted; 0 turns the timer off. */
  OAUTH_PRUNE_INTERVAL_MS: z.coerce.number().int().min(0).default(600_000),
  /** How long token-mgr's JWKS is reused before it is fetched again. */
  COS_ACCESS_TOKEN_JWKS_CACHE_MS: z.coerce.number().int().min(0).default(300_000),
  /** How long an answer about a COS token's revocation is reused. */
  COS_ACCESS_TOKEN_REVOCATION_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
});

export function loadAuthServiceV2Config(env?: Environment) {
  return loadSubgraphConfig(
    'auth-service-v2',
    authServiceV2EnvSchema,
    env,
    (parsed) => {
      const { issuer, audience } = topology['nexus-cos'].accessTokens;
      /** How the user behind an authorization is known: a COS access token, checked as backend-api checks it. */
      const cosAccessTokens: JwksAccessTokenSettings = {
        jwksUrl: new URL(JWKS_PATH, parsed.TOKEN_MGR_URL).toString(),
        revocationsUrl: new URL(REVOCATIONS_PATH, parsed.TOKEN_MGR_URL).toString(),
        issuer,
        audience,
        algorithms: ['EdDSA'],
        cacheMaxAgeMs: parsed.COS_ACCESS_TOKEN_JWKS_CACHE_MS,
        cooldownMs: 30_000,
        revocationCacheMs: parsed.COS_ACCESS_TOKEN_REVOCATION_CACHE_MS,
      };
      return {
        keyEncryptionKey: secretOrDevelopmentDefault(parsed.OAUTH_KEY_ENCRYPTION_KEY),
        keyServiceUrl: parsed.KEY_SERVICE_URL,
        tokenMgrUrl: parsed.TOKEN_MGR_URL,
        userAuthUrl: parsed.USER_AUTH_URL,
        oauth: {
          issuer: parsed.OAUTH_ISSUER ?? `http://localhost:${parsed.PORT}`,
          accessTokenTtlSeconds: parsed.OAUTH_ACCESS_TOKEN_TTL_SECONDS,
          refreshTokenTtlSeconds: parsed.OAUTH_REFRESH_TOKEN_TTL_SECONDS,
          pruneIntervalMs: parsed.OAUTH_PRUNE_INTERVAL_MS,
        },
        cosAccessTokens,
      };
    },
    { requiredInProduction: ['OAUTH_KEY_ENCRYPTION_KEY'] },
  );
}

export type AuthServiceV2Config = ReturnType<typeof loadAuthServiceV2Config>;
