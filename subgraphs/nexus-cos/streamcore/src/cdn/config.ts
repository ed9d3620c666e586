import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  logLevelSchema,
  nodeEnvSchema,
  parseConfig,
  portSchema,
  secretOrDevelopmentDefault,
  sharedSecretSchema,
  type Environment,
} from '@nexusflow/kit';
import { z } from 'zod';

/** The CDN edge's port on this machine by default; streamcore's CDN_BASE_URL points there unless set. */
export const DEFAULT_EDGE_PORT = 3111;

/** Where the origin's objects are by default, under a service's DATA_DIR. */
export const originDirectoryUnder = (dataDir: string): string => join(dataDir, 'cdn-origin');

/** The EdgeAuth key streamcore signs with and the edge checks with: a secret of at least 32 characters. */
export const cdnSigningKeySchema = sharedSecretSchema;

const HEX_KEY = /^(?:[0-9a-fA-F]{2}){32,}$/;

/**
 * The key in hex, as Akamai's property settings take it: a hex secret (`openssl rand -hex 32`) is the key itself; any
 * other secret is hashed into one (SHA-256), the same way by streamcore and the edge. Outside production, a key derived
 * from the development secret, so that a fresh clone's edge and streamcore agree.
 */
export function cdnSigningKeyOrDevelopmentDefault(secret: string | undefined): string {
  const key = secret ?? `cdn-signing-key:${secretOrDevelopmentDefault(undefined)}`;
  return HEX_KEY.test(key) ? key.toLowerCase() : createHash('sha256').update(key).digest('hex');
}

const edgeEnvSchema = z.object({
  NODE_ENV: nodeEnvSchema,
  LOG_LEVEL: logLevelSchema,
  CDN_EDGE_HOST: z.string().default('127.0.0.1'),
  CDN_EDGE_PORT: portSchema.default(DEFAULT_EDGE_PORT),
  /** streamcore's DATA_DIR, whose `cdn-origin` folder is the origin unless CDN_ORIGIN_DIR says otherwise. */
  DATA_DIR: z.string().default('.data'),
  CDN_ORIGIN_DIR: z.string().optional(),
  CDN_SIGNING_KEY: cdnSigningKeySchema,
});

/** The edge run on its own (`npm run edge`), configured like streamcore, whose origin folder and key it shares. */
export function loadCdnEdgeConfig(env?: Environment) {
  const parsed = parseConfig(edgeEnvSchema, env, { requiredInProduction: ['CDN_SIGNING_KEY'] });
  return {
    host: parsed.CDN_EDGE_HOST,
    port: parsed.CDN_EDGE_PORT,
    logLevel: parsed.LOG_LEVEL,
    nodeEnv: parsed.NODE_ENV,
    originDirectory: parsed.CDN_ORIGIN_DIR ?? originDirectoryUnder(parsed.DATA_DIR),
    signingKey: cdnSigningKeyOrDevelopmentDefault(parsed.CDN_SIGNING_KEY),
  };
}
