import { booleanFlagSchema, loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';
import { cdnSigningKeyOrDevelopmentDefault, cdnSigningKeySchema, originDirectoryUnder } from './cdn/config.ts';

/** Where streamcore's built-in edge answers, on its own port: what players reach when no CDN is configured. */
export const BUILT_IN_EDGE_PATH = '/cdn';

const defaults = serviceDefaults('nexus-cos', 'streamcore');

const streamcoreEnvSchema = z.object({
  ...subgraphEnv(defaults),
  /** The EdgeAuth key (hex) playback URLs are signed with; the CDN edge checks them with the same key. */
  CDN_SIGNING_KEY: cdnSigningKeySchema,
  /** Where players reach the CDN edge; unset: streamcore's built-in edge on its own port. */
  CDN_BASE_URL: z.url().optional(),
  /** The origin folder the edge serves from, where streamcore writes manifests: DATA_DIR/cdn-origin unless set. */
  CDN_ORIGIN_DIR: z.string().optional(),
  /** How long a signed playback URL works; heartbeats hand out fresh ones. */
  CDN_URL_TTL_SECONDS: z.coerce.number().int().min(10).max(86_400).default(300),
  /** Whether playback URLs work only from the address that started the session (as the gateway saw it). */
  CDN_BIND_CLIENT_ADDRESS: booleanFlagSchema.default(true),
  /** Live playback sessions one viewer may have at once. */
  MAX_CONCURRENT_STREAMS: z.coerce.number().int().min(1).max(100).default(3),
  /** A session without a heartbeat for this long has ended. */
  PLAYBACK_SESSION_TTL_SECONDS: z.coerce.number().int().min(10).max(3600).default(90),
  /** How often sessions that missed their heartbeat are ended and counted out; 0: never by timer (tests sweep themselves). */
  PLAYBACK_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(15_000),
});

export function loadStreamcoreConfig(env?: Environment) {
  return loadSubgraphConfig(
    'streamcore',
    streamcoreEnvSchema,
    env,
    (parsed) => ({
      contentManagementUrl: parsed.CONTENT_MANAGEMENT_URL,
      cdn: {
        signingKey: cdnSigningKeyOrDevelopmentDefault(parsed.CDN_SIGNING_KEY),
        baseUrl: (parsed.CDN_BASE_URL ?? `http://127.0.0.1:${parsed.PORT}${BUILT_IN_EDGE_PATH}`).replace(/\/+$/, ''),
        originDirectory: parsed.CDN_ORIGIN_DIR ?? originDirectoryUnder(parsed.DATA_DIR),
        urlTtlSeconds: parsed.CDN_URL_TTL_SECONDS,
        bindClientAddress: parsed.CDN_BIND_CLIENT_ADDRESS,
      },
      playback: {
        maxConcurrentStreams: parsed.MAX_CONCURRENT_STREAMS,
        sessionTtlMs: parsed.PLAYBACK_SESSION_TTL_SECONDS * 1000,
        sweepIntervalMs: parsed.PLAYBACK_SWEEP_INTERVAL_MS,
      },
    }),
    { requiredInProduction: ['CDN_SIGNING_KEY'] },
  );
}

export type StreamcoreConfig = ReturnType<typeof loadStreamcoreConfig>;
