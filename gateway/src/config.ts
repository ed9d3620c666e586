import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  booleanFlagSchema,
  logLevelSchema,
  nodeEnvSchema,
  parseConfig,
  portSchema,
  redisUrlSchema,
  secretOrDevelopmentDefault,
  sharedSecretSchema,
  type Environment,
} from '@nexusflow/kit/core';
import { z } from 'zod';
import type { SubgraphClientOptions } from './subgraph-data-source.ts';
import { DEFAULT_RECONNECT_POLICY, type ReconnectPolicy } from './subscriptions/upstream.ts';

export const GATEWAY_DEFAULT_PORT = 8000;
export const DEFAULT_SUPERGRAPH_PATH = fileURLToPath(new URL('../../schema/supergraph.graphql', import.meta.url));


const gatewayEnvSchema = z
  .object({
    NODE_ENV: nodeEnvSchema,
    LOG_LEVEL: logLevelSchema,
    HOST: z.string().default('127.0.0.1'),
    PORT: portSchema.default(GATEWAY_DEFAULT_PORT),
    SUPERGRAPH_PATH: z.string().default(DEFAULT_SUPERGRAPH_PATH),
    SUPERGRAPH_POLL_INTERVAL_MS: z.coerce.number().int().min(0).default(0),
    JWT_SECRET: sharedSecretSchema,
    INTERNAL_SECRET: sharedSecretSchema,
    REDIS_URL: redisUrlSchema.optional(),
    RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(1200),
    TRUST_PROXY: booleanFlagSchema.default(false),
    INTROSPECTION: booleanFlagSchema.optional(),
    MAX_BODY_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
    MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().positive().default(100),
    MAX_CONNECTIONS_PER_TENANT: z.coerce.number().int().positive().default(1000),
    WS_CONNECTION_INIT_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
    UPSTREAM_RECONNECT_BASE_DELAY_MS: z.coerce.number().int().positive().default(DEFAULT_RECONNECT_POLICY.baseDelayMs),
    UPSTREAM_RECONNECT_MAX_DELAY_MS: z.coerce.number().int().positive().default(DEFAULT_RECONNECT_POLICY.maxDelayMs),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
    SUBGRAPH_CONNECTIONS: z.coerce.number().int().positive().default(128),
    SUBGRAPH_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
    SUBGRAPH_DEDUPLICATION: booleanFlagSchema.default(false),
    REQUEST_DEDUPLICATION: booleanFlagSchema.default(false),
  })
  .catchall(z.string())
  .refine((env) => env.UPSTREAM_RECONNECT_MAX_DELAY_MS >= env.UPSTREAM_RECONNECT_BASE_DELAY_MS, {
    message: 'must be at least UPSTREAM_RECONNECT_BASE_DELAY_MS',
    path: ['UPSTREAM_RECONNECT_MAX_DELAY_MS'],
  });

/** `SUBGRAPH_AUTH_URL=http://auth:3001/graphql` overrides the routing URL of subgraph `auth`. */
const SUBGRAPH_URL_VARIABLE = /^SUBGRAPH_([A-Z0-9_]+)_URL$/;

export interface GatewayConfig {
  nodeEnv: 'development' | 'production' | 'test';
  logLevel: z.output<typeof logLevelSchema>;
  host: string;
  port: number;
  supergraphPath: string;
  /** How often the supergraph file is checked for a new version; 0 never checks. */
  supergraphPollIntervalMs: number;
  jwtSecret: string;
  internalSecret: string;
  /** Unset: rate limits are counted in this process only. */
  redisUrl: string | undefined;
  /** 0 disables rate limiting. */
  rateLimitPerMinute: number;
  /** Take the client address from X-Forwarded-For (only behind a proxy that sets it). */
  trustProxy: boolean;
  introspection: boolean;
  maxBodyBytes: number;
  /** Operations one WebSocket connection may run at once. */
  maxSubscriptionsPerConnection: number;
  /** WebSocket connections one tenant may hold open on this gateway instance. */
  maxConnectionsPerTenant: number;
  /** A WebSocket client that sends no connection_init within this is closed with 4408. */
  wsConnectionInitTimeoutMs: number;
  /** Backoff of reconnections to a subgraph whose WebSocket dropped: the first wait's upper bound, then the cap. */
  upstreamReconnect: ReconnectPolicy;
  shutdownTimeoutMs: number;
  subgraphUrls: Record<string, string>;
  /** Keep-alive connections per subgraph, how long a subgraph may take, and whether identical fetches in flight share one. */
  subgraphClient: Required<SubgraphClientOptions>;
  /** Identical queries from clients with the same identity, in flight at once, share one execution. */
  requestDeduplication: boolean;
}

const cliSchema = z.object({
  supergraph: z.string().optional(),
  port: portSchema.optional(),
  host: z.string().optional(),
});

/**
 * Environment first, then command-line flags (`--supergraph`, `--port`, `--host`) on top, the way
 * Apollo Router's `--supergraph` lets the gateway serve any composed supergraph file.
 */
export function loadGatewayConfig(env?: Environment, argv: string[] = []): GatewayConfig {
  const { values } = parseArgs({ args: argv, options: { supergraph: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } } });
  const flags = parseConfig(cliSchema, values);
  const parsed = parseConfig(gatewayEnvSchema, env, { requiredInProduction: ['JWT_SECRET', 'INTERNAL_SECRET'] });
  const subgraphUrls: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const match = SUBGRAPH_URL_VARIABLE.exec(key);
    if (match?.[1] && typeof value === 'string') subgraphUrls[match[1].toLowerCase()] = value;
  }
  return {
    nodeEnv: parsed.NODE_ENV,
    logLevel: parsed.LOG_LEVEL,
    host: flags.host ?? parsed.HOST,
    port: flags.port ?? parsed.PORT,
    supergraphPath: flags.supergraph ?? parsed.SUPERGRAPH_PATH,
    supergraphPollIntervalMs: parsed.SUPERGRAPH_POLL_INTERVAL_MS,
    jwtSecret: secretOrDevelopmentDefault(parsed.JWT_SECRET),
    internalSecret: secretOrDevelopmentDefault(parsed.INTERNAL_SECRET),
    redisUrl: parsed.REDIS_URL,
    rateLimitPerMinute: parsed.RATE_LIMIT_PER_MINUTE,
    trustProxy: parsed.TRUST_PROXY,
    introspection: parsed.INTROSPECTION ?? parsed.NODE_ENV !== 'production',
    maxBodyBytes: parsed.MAX_BODY_BYTES,
    maxSubscriptionsPerConnection: parsed.MAX_SUBSCRIPTIONS_PER_CONNECTION,
    maxConnectionsPerTenant: parsed.MAX_CONNECTIONS_PER_TENANT,
    wsConnectionInitTimeoutMs: parsed.WS_CONNECTION_INIT_TIMEOUT_MS,
    upstreamReconnect: { baseDelayMs: parsed.UPSTREAM_RECONNECT_BASE_DELAY_MS, maxDelayMs: parsed.UPSTREAM_RECONNECT_MAX_DELAY_MS },
    shutdownTimeoutMs: parsed.SHUTDOWN_TIMEOUT_MS,
    subgraphUrls,
    subgraphClient: { connections: parsed.SUBGRAPH_CONNECTIONS, timeoutMs: parsed.SUBGRAPH_TIMEOUT_MS, deduplicate: parsed.SUBGRAPH_DEDUPLICATION },
    requestDeduplication: parsed.REQUEST_DEDUPLICATION,
  };
}
