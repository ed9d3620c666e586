import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  booleanFlagSchema,
  ConfigError,
  logLevelSchema,
  nodeEnvSchema,
  namespaceSchema,
  parseConfig,
  portSchema,
  redisUrlSchema,
  amqpUrlSchema,
  secretOrDevelopmentDefault,
  sharedSecretSchema,
  toTracingConfig,
  tracingEnvShape,
  type Environment,
  type TracingConfig,
} from '@nexusflow/kit/core';
import { z } from 'zod';
import {
  accessTokenIssuerOf,
  graphNames,
  isGraphName,
  JWKS_PATH,
  localPort,
  REVOCATIONS_PATH,
  topology,
  type GraphName,
} from '@nexusflow/topology';
import { DEFAULT_OPERATION_LIMITS, type OperationLimits } from './admission/operation-limits.ts';
import type { RateLimitSettings } from './admission/rate-limits.ts';
import { TrustedDocumentsMode } from './admission/trusted-documents.ts';
import type { AccessTokenKeys } from './authenticate.ts';
import type { SubgraphClientOptions } from './subgraph-data-source.ts';
import { DEFAULT_RECONNECT_POLICY, type ReconnectPolicy } from './subscriptions/upstream.ts';

/** The graph served when neither `--graph`, `--supergraph` nor SUPERGRAPH_PATH says which. */
export const DEFAULT_GRAPH: GraphName = 'nexusflow';
/** A graph's composed supergraph in this repository (`npm run compose -- --graph <name>` writes it). */
export const supergraphPathOf = (graph: GraphName) => fileURLToPath(new URL(`../../schema/${graph}/supergraph.graphql`, import.meta.url));
/**
 * The key of a subgraph in {@link GatewayConfig.subgraphUrls}: its name as SUBGRAPH_<NAME>_URL spells it, lower-cased,
 * so that `content-delivery` is routed by SUBGRAPH_CONTENT_DELIVERY_URL.
 */
export const subgraphUrlKey = (name: string) => name.toLowerCase().replaceAll('-', '_');
export const DEFAULT_SUPERGRAPH_PATH = supergraphPathOf(DEFAULT_GRAPH);
/** Where the schema registry finds client operations; the trusted-document manifests are read from here by default. */
export const DEFAULT_CLIENTS_DIRECTORY = fileURLToPath(new URL('../../clients', import.meta.url));

/** What the gateway does with the estimated cost of an operation. */
export enum DemandControlMode {
  /** Refuse operations estimated above MAX_COST. */
  Enforce = 'enforce',
  /** Estimate and report (response extensions, metrics, logs), never refuse. */
  Measure = 'measure',
  Off = 'off',
}

const limit = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const perMinute = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

const gatewayEnvShape = {
  NODE_ENV: nodeEnvSchema,
  LOG_LEVEL: logLevelSchema,
  HOST: z.string().default('127.0.0.1'),
  /** Unset: the port packages/topology gives the graph's gateway. */
  PORT: portSchema.optional(),
  /** Unset: the graph's composed supergraph in this repository. */
  SUPERGRAPH_PATH: z.string().optional(),
  SUPERGRAPH_POLL_INTERVAL_MS: z.coerce.number().int().min(0).default(0),
  JWT_SECRET: sharedSecretSchema,
  INTERNAL_SECRET: sharedSecretSchema,
  REDIS_URL: redisUrlSchema.optional(),
  /** Unset: the graph's name. Prefix of the gateway's keys in Redis (rate-limit budgets). */
  REDIS_NAMESPACE: namespaceSchema.optional(),
  /**
   * The bus the gateway publishes its audit records (mutations, sensitive reads) on, for the audit subgraph's queue;
   * unset: it calls the audit subgraph with them instead (its in-process bus would reach no other process).
   */
  AMQP_URL: amqpUrlSchema.optional(),
  /** Unset: the graph's name, as the subgraphs' default; the exchange is `<namespace>.events`. */
  AMQP_NAMESPACE: namespaceSchema.optional(),
  /** Audit records the gateway holds while the bus (or the audit subgraph) is unreachable; past it, the oldest are dropped. */
  AUDIT_BUFFER_SIZE: z.coerce.number().int().min(1).default(10_000),
  /** off: no audit records are published. Unset: on when the graph has an audit service (packages/topology), off otherwise. */
  AUDIT: z.enum(['on', 'off']).optional(),
  /** off: no operation usage is reported. On, it is reported only while the supergraph names an analytics subgraph. */
  USAGE_REPORTING: z.enum(['on', 'off']).default('on'),
  /** How often the usage aggregated in memory is sent to the analytics subgraph as one report. */
  USAGE_REPORT_INTERVAL_MS: z.coerce.number().int().min(50).default(10_000),
  /** (Tenant, client, version, operation) entries a report holds; a report is sent early when it reaches them. */
  USAGE_REPORT_MAX_ENTRIES: z.coerce.number().int().min(1).default(1000),
  /** Reports held while analytics is unreachable; past it, the oldest are dropped. */
  USAGE_BUFFER_REPORTS: z.coerce.number().int().min(1).default(60),
  RATE_LIMIT_PER_MINUTE: perMinute(1200),
  RATE_LIMIT_PER_TENANT_PER_MINUTE: perMinute(6000),
  RATE_LIMIT_PER_ADDRESS_PER_MINUTE: perMinute(1200),
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  TRUST_PROXY: z.never({ error: 'replaced by TRUSTED_PROXY_HOPS (the number of proxies of yours in front of the gateway)' }).optional(),
  INTROSPECTION: booleanFlagSchema.optional(),
  EXPLORER: booleanFlagSchema.optional(),
  ADMIN_PORT: portSchema.optional(),
  ADMIN_HOST: z.string().default('127.0.0.1'),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  MAX_TOKENS: limit(DEFAULT_OPERATION_LIMITS.maxTokens),
  MAX_DEPTH: limit(DEFAULT_OPERATION_LIMITS.maxDepth),
  MAX_ALIASES: z.coerce.number().int().min(0).default(DEFAULT_OPERATION_LIMITS.maxAliases),
  MAX_ROOT_FIELDS: limit(DEFAULT_OPERATION_LIMITS.maxRootFields),
  MAX_DIRECTIVES_PER_FIELD: z.coerce.number().int().min(0).default(DEFAULT_OPERATION_LIMITS.maxDirectivesPerField),
  MAX_FIELDS: limit(DEFAULT_OPERATION_LIMITS.maxFields),
  MAX_VARIABLE_DEPTH: limit(DEFAULT_OPERATION_LIMITS.maxVariableDepth),
  DEMAND_CONTROL: z.enum(DemandControlMode).default(DemandControlMode.Enforce),
  MAX_COST: limit(5000),
  DEFAULT_LIST_SIZE: limit(10),
  COST_IN_RESPONSE: booleanFlagSchema.default(true),
  TRUSTED_DOCUMENTS: z.enum(TrustedDocumentsMode).default(TrustedDocumentsMode.Off),
  TRUSTED_DOCUMENTS_MANIFESTS: z.string().optional(),
  OPERATION_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
  PLANNER_THREADS: z.coerce.number().int().min(1).max(16).default(1),
  PLANNER_TIMEOUT_MS: limit(5000),
  PLANNER_HEAP_MB: z.coerce.number().int().min(64).default(256),
  PLANNER_MAX_QUEUE: limit(256),
  PLAN_CACHE_BYTES: limit(64 * 1024 * 1024),
  LOAD_SHEDDING_DELAY_MS: z.coerce.number().int().min(0).default(50),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().positive().default(100),
  MAX_CONNECTIONS_PER_TENANT: z.coerce.number().int().positive().default(1000),
  /**
   * Subgraphs (names, separated by commas) whose subscriptions and entities answer every user of a tenant with the same
   * roles alike: subscriptions that read only these are shared across such users. Unset: shared per user only.
   */
  SUBSCRIPTIONS_SHARED_ACROSS_USERS: z.string().optional(),
  MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).default(20),
  WS_CONNECTION_INIT_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  WS_MAX_BUFFERED_BYTES: z.coerce.number().int().positive().default(8_388_608),
  SSE_RESERVATION_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  MULTIPART_HEARTBEAT_MS: z.coerce.number().int().positive().default(5_000),
  UPSTREAM_RECONNECT_BASE_DELAY_MS: z.coerce.number().int().positive().default(DEFAULT_RECONNECT_POLICY.baseDelayMs),
  UPSTREAM_RECONNECT_MAX_DELAY_MS: z.coerce.number().int().positive().default(DEFAULT_RECONNECT_POLICY.maxDelayMs),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Gateway processes sharing the ports: a number, or `auto` for one per core the process may use. 1: no primary, as before. */
  GATEWAY_WORKERS: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(256)]).default(1),
  SUBGRAPH_CONNECTIONS: z.coerce.number().int().positive().default(128),
  SUBGRAPH_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  SUBGRAPH_DEDUPLICATION: booleanFlagSchema.default(false),
  SUBGRAPH_BATCHING: booleanFlagSchema.default(true),
  REQUEST_DEDUPLICATION: booleanFlagSchema.default(false),
  /** How long an API key's answer (accepted or refused) is reused: a revoked key keeps working at most this long. */
  API_KEY_CACHE_TTL_MS: z.coerce.number().int().min(0).default(30_000),
  /** How long the answer about an access token's session is reused: a revoked session keeps working about this long. */
  SESSION_REVOCATION_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  /**
   * Verify access tokens with the keys an issuer publishes (a JWKS) instead of JWT_SECRET. Unset: the JWKS of the
   * service packages/topology names for the graph (Nexus COS's token-mgr, on this machine), or JWT_SECRET when none.
   */
  ACCESS_TOKEN_JWKS_URL: z.url().optional(),
  /** The `iss` and `aud` such tokens must carry; unset, those packages/topology gives the graph's issuer. */
  ACCESS_TOKEN_ISSUER: z.string().min(1).optional(),
  ACCESS_TOKEN_AUDIENCE: z.string().min(1).optional(),
  /** Unset: `/revocations/` beside the JWKS, which says whether a token id is revoked. */
  ACCESS_TOKEN_REVOCATIONS_URL: z.url().optional(),
  /** How long the JWKS is reused before it is fetched again. */
  ACCESS_TOKEN_JWKS_CACHE_MS: z.coerce.number().int().min(0).default(300_000),
  /** The least time between two fetches of the JWKS for tokens naming a key it lacks. */
  ACCESS_TOKEN_JWKS_COOLDOWN_MS: z.coerce.number().int().min(0).default(30_000),
  /** One structured log line per request (operation, client, tenant, status, duration, trace id); `false` turns it off. */
  GATEWAY_ACCESS_LOG: booleanFlagSchema.default(true),
  ...tracingEnvShape,
};

/** Every variable the gateway reads, besides `SUBGRAPH_<NAME>_URL`. */
export const GATEWAY_VARIABLES: readonly string[] = Object.keys(gatewayEnvShape).filter((name) => name !== 'TRUST_PROXY');

const gatewayEnvSchema = z
  .object(gatewayEnvShape)
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
  /**
   * What access tokens are verified with: the secret they are signed with (JWT_SECRET, NexusFlow's auth), or the JWKS
   * of the graph's issuer of asymmetrically signed tokens (Nexus COS's token-mgr), which shares no secret.
   */
  jwtSecret: AccessTokenKeys;
  internalSecret: string;
  /** Unset: rate limits are counted in this process only. */
  redisUrl: string | undefined;
  /** How audit records leave: on the bus of `amqpUrl`, or, when it is unset, in calls to the audit subgraph. */
  audit: { enabled: boolean; amqpUrl: string | undefined; amqpNamespace: string; bufferSize: number };
  /**
   * Operation usage (client, operation, schema coordinates, duration, errors), aggregated in memory and reported to the
   * analytics subgraph every `intervalMs`, or when a report holds `maxEntries`; `bufferReports` wait while it is down.
   */
  usageReporting: { enabled: boolean; intervalMs: number; maxEntries: number; bufferReports: number };
  rateLimits: RateLimitSettings;
  /** Proxies of ours in front of the gateway, each appending to X-Forwarded-For; 0 ignores the header. */
  trustedProxyHops: number;
  /** Schema introspection; off also hides "Did you mean" suggestions, which would reveal the schema piecemeal. */
  introspection: boolean;
  /** GraphiQL at `/`. */
  explorer: boolean;
  /** A second listener for /metrics and health, off the public port (production serves /metrics only there or with the token). */
  admin: { port: number; host: string } | undefined;
  /** Bearer token /metrics requires on the public port. */
  metricsToken: string | undefined;
  /** Whether /metrics is served on the public port at all. */
  publicMetrics: boolean;
  maxBodyBytes: number;
  limits: OperationLimits;
  demandControl: { mode: DemandControlMode; maxCost: number; defaultListSize: number; inResponse: boolean };
  trustedDocuments: { mode: TrustedDocumentsMode; manifests: string[] | undefined };
  /** 0: no limit. */
  operationTimeoutMs: number;
  planner: { threads: number; timeoutMs: number; heapMb: number; maxQueue: number };
  planCacheBytes: number;
  /** Event-loop delay (p99 over 100 ms, the loop at least half busy, at least 8 requests in progress) from which new documents and large bodies are shed with 503; 0: never. */
  loadSheddingDelayMs: number;
  /** Anonymous WebSocket connections one client address may hold open. */
  maxAnonymousConnectionsPerAddress: number;
  /** Operations one WebSocket connection may run at once. */
  maxSubscriptionsPerConnection: number;
  /** WebSocket connections one tenant may hold open on this gateway instance. */
  maxConnectionsPerTenant: number;
  /**
   * Subgraphs whose answers depend on the caller's tenant, roles and kind of credential alone, as the operator declares:
   * subscriptions that read only these share one upstream subscription across the users alike in those. Empty: none.
   */
  subscriptionsSharedAcrossUsers: ReadonlySet<string>;
  /** A WebSocket client that sends no connection_init within this is closed with 4408. */
  wsConnectionInitTimeoutMs: number;
  /** Bytes a WebSocket connection may have waiting to be sent before it is dropped: a reader too slow for its events. */
  wsMaxBufferedBytes: number;
  /** How long a graphql-sse single-connection reservation waits for its event stream before it is dropped. */
  sseReservationTimeoutMs: number;
  /** How often an open multipart subscription sends an empty part, so that proxies keep an idle stream open. */
  multipartHeartbeatMs: number;
  /** Backoff of reconnections to a subgraph whose WebSocket dropped: the first wait's upper bound, then the cap. */
  upstreamReconnect: ReconnectPolicy;
  shutdownTimeoutMs: number;
  /**
   * Gateway processes serving the same ports (node:cluster): more than 1 runs a primary that forks them, replaces those
   * that die and aggregates their metrics; 1 serves from this process alone.
   */
  workers: number;
  subgraphUrls: Record<string, string>;
  /** Prefix of the gateway's keys in Redis, so that gateways of different graphs sharing a Redis keep their budgets apart. */
  redisNamespace: string;
  /** Keep-alive connections per subgraph, how long a subgraph may take, and whether identical fetches in flight share one. */
  subgraphClient: Required<Omit<SubgraphClientOptions, 'now'>>;
  /** Identical queries from clients with the same identity, in flight at once, share one execution. */
  requestDeduplication: boolean;
  /** How long the auth subgraph's answer about an API key is reused; also how late a revocation takes effect. 0: ask every time. */
  apiKeyCacheTtlMs: number;
  /** How long an answer about a session's revocation is reused per session; also how late a revocation is seen. 0: ask every time. */
  sessionRevocationCacheMs: number;
  /** OpenTelemetry traces: off unless an OTLP endpoint is set. */
  tracing: TracingConfig;
  /** Whether each request is logged as one access-log line. */
  accessLog: boolean;
}

const cliSchema = z.object({
  graph: z
    .string()
    .refine(isGraphName, { error: `must be one of ${graphNames.join(', ')}` })
    .optional(),
  supergraph: z.string().optional(),
  port: portSchema.optional(),
  host: z.string().optional(),
});

/**
 * Environment first, then command-line flags (`--supergraph`, `--port`, `--host`) on top, the way
 * Apollo Router's `--supergraph` lets the gateway serve any composed supergraph file. `--graph <name>` picks one of
 * this repository's graphs: its supergraph (unless SUPERGRAPH_PATH or `--supergraph` names another) and its port.
 */
export function loadGatewayConfig(env?: Environment, argv: string[] = []): GatewayConfig {
  const { values } = parseArgs({
    args: argv,
    options: { graph: { type: 'string' }, supergraph: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
  });
  const flags = parseConfig(cliSchema, values);
  const graph = flags.graph ?? DEFAULT_GRAPH;
  const issuer = accessTokenIssuerOf(graph);
  // A graph whose tokens are verified from a JWKS has no secret to share with its issuer.
  const requiredInProduction = issuer ? ['INTERNAL_SECRET'] : ['JWT_SECRET', 'INTERNAL_SECRET'];
  const parsed = parseConfig(gatewayEnvSchema, env, { requiredInProduction });
  const production = parsed.NODE_ENV === 'production';
  const jwksUrl =
    parsed.ACCESS_TOKEN_JWKS_URL ?? (issuer ? `http://127.0.0.1:${localPort(graph, issuer.service.port)}${JWKS_PATH}` : undefined);
  const tokenIssuer = parsed.ACCESS_TOKEN_ISSUER ?? issuer?.issuer;
  const tokenAudience = parsed.ACCESS_TOKEN_AUDIENCE ?? issuer?.audience;
  if (jwksUrl !== undefined && (tokenIssuer === undefined || tokenAudience === undefined))
    throw new ConfigError(['ACCESS_TOKEN_ISSUER and ACCESS_TOKEN_AUDIENCE: required with ACCESS_TOKEN_JWKS_URL for this graph']);
  const subgraphUrls: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const match = SUBGRAPH_URL_VARIABLE.exec(key);
    if (match?.[1] && typeof value === 'string') subgraphUrls[match[1].toLowerCase()] = value;
  }
  return {
    nodeEnv: parsed.NODE_ENV,
    logLevel: parsed.LOG_LEVEL,
    host: flags.host ?? parsed.HOST,
    port: flags.port ?? parsed.PORT ?? topology[graph].gatewayPort,
    supergraphPath: flags.supergraph ?? parsed.SUPERGRAPH_PATH ?? supergraphPathOf(graph),
    supergraphPollIntervalMs: parsed.SUPERGRAPH_POLL_INTERVAL_MS,
    jwtSecret:
      jwksUrl === undefined
        ? secretOrDevelopmentDefault(parsed.JWT_SECRET)
        : {
            jwksUrl,
            issuer: tokenIssuer!,
            audience: tokenAudience!,
            algorithms: ['EdDSA', 'RS256'],
            cacheMaxAgeMs: parsed.ACCESS_TOKEN_JWKS_CACHE_MS,
            cooldownMs: parsed.ACCESS_TOKEN_JWKS_COOLDOWN_MS,
            revocationsUrl: parsed.ACCESS_TOKEN_REVOCATIONS_URL ?? new URL(REVOCATIONS_PATH, jwksUrl).toString(),
            revocationCacheMs: parsed.SESSION_REVOCATION_CACHE_MS,
          },
    internalSecret: secretOrDevelopmentDefault(parsed.INTERNAL_SECRET),
    redisUrl: parsed.REDIS_URL,
    redisNamespace: parsed.REDIS_NAMESPACE ?? graph,
    audit: {
      enabled: (parsed.AUDIT ?? ('audit' in topology[graph].services ? 'on' : 'off')) === 'on',
      amqpUrl: parsed.AMQP_URL,
      amqpNamespace: parsed.AMQP_NAMESPACE ?? graph,
      bufferSize: parsed.AUDIT_BUFFER_SIZE,
    },
    usageReporting: {
      enabled: parsed.USAGE_REPORTING === 'on',
      intervalMs: parsed.USAGE_REPORT_INTERVAL_MS,
      maxEntries: parsed.USAGE_REPORT_MAX_ENTRIES,
      bufferReports: parsed.USAGE_BUFFER_REPORTS,
    },
    rateLimits: {
      perUser: parsed.RATE_LIMIT_PER_MINUTE,
      perTenant: parsed.RATE_LIMIT_PER_TENANT_PER_MINUTE,
      perAddress: parsed.RATE_LIMIT_PER_ADDRESS_PER_MINUTE,
    },
    trustedProxyHops: parsed.TRUSTED_PROXY_HOPS,
    introspection: parsed.INTROSPECTION ?? !production,
    explorer: parsed.EXPLORER ?? !production,
    admin: parsed.ADMIN_PORT === undefined ? undefined : { port: parsed.ADMIN_PORT, host: parsed.ADMIN_HOST },
    metricsToken: parsed.METRICS_TOKEN,
    // In production, metrics reveal traffic and internals: only behind the token, or on the admin listener.
    publicMetrics: parsed.METRICS_TOKEN !== undefined || !production,
    maxBodyBytes: parsed.MAX_BODY_BYTES,
    limits: {
      maxTokens: parsed.MAX_TOKENS,
      maxDepth: parsed.MAX_DEPTH,
      maxAliases: parsed.MAX_ALIASES,
      maxRootFields: parsed.MAX_ROOT_FIELDS,
      maxDirectivesPerField: parsed.MAX_DIRECTIVES_PER_FIELD,
      maxFields: parsed.MAX_FIELDS,
      maxVariableDepth: parsed.MAX_VARIABLE_DEPTH,
    },
    demandControl: {
      mode: parsed.DEMAND_CONTROL,
      maxCost: parsed.MAX_COST,
      defaultListSize: parsed.DEFAULT_LIST_SIZE,
      inResponse: parsed.COST_IN_RESPONSE,
    },
    trustedDocuments: {
      mode: parsed.TRUSTED_DOCUMENTS,
      manifests: parsed.TRUSTED_DOCUMENTS_MANIFESTS?.split(',')
        .map((file) => file.trim())
        .filter((file) => file !== ''),
    },
    operationTimeoutMs: parsed.OPERATION_TIMEOUT_MS,
    planner: {
      threads: parsed.PLANNER_THREADS,
      timeoutMs: parsed.PLANNER_TIMEOUT_MS,
      heapMb: parsed.PLANNER_HEAP_MB,
      maxQueue: parsed.PLANNER_MAX_QUEUE,
    },
    planCacheBytes: parsed.PLAN_CACHE_BYTES,
    loadSheddingDelayMs: parsed.LOAD_SHEDDING_DELAY_MS,
    maxAnonymousConnectionsPerAddress: parsed.MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS,
    maxSubscriptionsPerConnection: parsed.MAX_SUBSCRIPTIONS_PER_CONNECTION,
    maxConnectionsPerTenant: parsed.MAX_CONNECTIONS_PER_TENANT,
    subscriptionsSharedAcrossUsers: new Set(
      (parsed.SUBSCRIPTIONS_SHARED_ACROSS_USERS ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
    ),
    wsConnectionInitTimeoutMs: parsed.WS_CONNECTION_INIT_TIMEOUT_MS,
    wsMaxBufferedBytes: parsed.WS_MAX_BUFFERED_BYTES,
    sseReservationTimeoutMs: parsed.SSE_RESERVATION_TIMEOUT_MS,
    multipartHeartbeatMs: parsed.MULTIPART_HEARTBEAT_MS,
    upstreamReconnect: { baseDelayMs: parsed.UPSTREAM_RECONNECT_BASE_DELAY_MS, maxDelayMs: parsed.UPSTREAM_RECONNECT_MAX_DELAY_MS },
    shutdownTimeoutMs: parsed.SHUTDOWN_TIMEOUT_MS,
    workers: parsed.GATEWAY_WORKERS === 'auto' ? availableParallelism() : parsed.GATEWAY_WORKERS,
    subgraphUrls,
    subgraphClient: {
      connections: parsed.SUBGRAPH_CONNECTIONS,
      timeoutMs: parsed.SUBGRAPH_TIMEOUT_MS,
      deduplicate: parsed.SUBGRAPH_DEDUPLICATION,
      batchEntityFetches: parsed.SUBGRAPH_BATCHING,
    },
    requestDeduplication: parsed.REQUEST_DEDUPLICATION,
    apiKeyCacheTtlMs: parsed.API_KEY_CACHE_TTL_MS,
    sessionRevocationCacheMs: parsed.SESSION_REVOCATION_CACHE_MS,
    tracing: toTracingConfig('gateway', parsed),
    accessLog: parsed.GATEWAY_ACCESS_LOG,
  };
}
