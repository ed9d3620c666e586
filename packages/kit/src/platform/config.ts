import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Environment = Record<string, string | undefined>;

export interface ParseConfigOptions {
  /**
   * Variables that must be set when NODE_ENV=production, so that production never runs on development secrets:
   * unset, blank, or equal to the development default (public in this repository) is refused.
   */
  requiredInProduction?: string[];
}

/** Public in this repository: anyone could sign tokens and identity headers with it, so production refuses it. */
const DEVELOPMENT_SECRET = 'nexusflow-development-secret-do-not-use-in-production';

/**
 * The only place that reads `process.env`. Every problem, including secrets missing in production,
 * is collected into one {@link ConfigError} so that an operator fixes a misconfigured deployment in
 * one round trip, not one variable at a time.
 */
export function parseConfig<S extends z.ZodType>(schema: S, env: Environment = process.env, options: ParseConfigOptions = {}): z.output<S> {
  const blankAsUnset = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const problems: string[] = [];
  const result = schema.safeParse(blankAsUnset);
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(`${issue.path.join('.') || '(environment)'}: ${issue.message}`);
  }
  if (blankAsUnset.NODE_ENV === 'production') {
    for (const key of options.requiredInProduction ?? []) {
      if (blankAsUnset[key] === undefined) problems.push(`${key}: is required when NODE_ENV=production`);
      else if (blankAsUnset[key] === DEVELOPMENT_SECRET) problems.push(`${key}: must not be the development default`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data as z.output<S>;
}

export const portSchema = z.coerce.number().int().min(0).max(65535);

const urlWithProtocols = (protocols: string[]) =>
  z.url({ protocol: new RegExp(`^(${protocols.join('|')})$`), error: `must be a ${protocols.join(' or ')} URL` });

export const postgresUrlSchema = urlWithProtocols(['postgres', 'postgresql']);
export const redisUrlSchema = urlWithProtocols(['redis', 'rediss']);
export const amqpUrlSchema = urlWithProtocols(['amqp', 'amqps']);

/** `true`/`false` (or `1`/`0`) from the environment, as a boolean. */
export const booleanFlagSchema = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

export const nodeEnvSchema = z.enum(['development', 'production', 'test']).default('development');
export const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');
/** `json`: one JSON object a line, for whatever collects logs. `pretty`: readable lines for a person. */
export const logFormatSchema = z.enum(['json', 'pretty']);
export type LogFormat = z.output<typeof logFormatSchema>;

/**
 * A secret shared by services. Outside production a fixed development value is used so that
 * `npm start` works on a fresh clone; in production leaving it unset is a configuration error.
 */
export const sharedSecretSchema = z.string().min(32, 'must be at least 32 characters').optional();

export function secretOrDevelopmentDefault(secret: string | undefined): string {
  return secret ?? DEVELOPMENT_SECRET;
}

/** OpenTelemetry's samplers, as OTEL_TRACES_SAMPLER names them. */
export const tracesSamplerSchema = z
  .enum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'])
  .default('parentbased_always_on');

/** OTEL_EXPORTER_OTLP_HEADERS: `key=value` pairs separated by commas, each part URL-encoded, as the OpenTelemetry spec has it. */
export const otlpHeadersSchema = z.string().transform((value, check) => {
  const headers: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const separator = pair.indexOf('=');
    const key = separator > 0 ? decodeURIComponent(pair.slice(0, separator).trim()) : '';
    if (key === '') {
      // The value is not echoed: these headers usually carry an API key.
      check.addIssue({ code: 'custom', message: 'must be key=value pairs separated by commas' });
      return z.NEVER;
    }
    headers[key] = decodeURIComponent(pair.slice(separator + 1).trim());
  }
  return headers;
});

/**
 * OpenTelemetry's own variables for traces, read by every service and the gateway. Spans are exported (OTLP over HTTP)
 * only when an endpoint is set; without one, tracing is off and costs next to nothing.
 */
export const tracingEnvShape = {
  /** Unset: the service's own name (e.g. `workflows`, `gateway`). */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** The collector's base URL; traces go to `<endpoint>/v1/traces`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** The full URL traces are sent to; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_EXPORTER_OTLP_HEADERS: otlpHeadersSchema.optional(),
  OTEL_TRACES_SAMPLER: tracesSamplerSchema,
  /** The ratio of the `traceidratio` samplers, from 0 to 1. @default 1 */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
  /** `true` turns tracing off whatever else is set. */
  OTEL_SDK_DISABLED: booleanFlagSchema.optional(),
};

export type TracingEnv = z.output<z.ZodObject<typeof tracingEnvShape>>;

export interface TracingConfig {
  /** The `service.name` of every span the process exports. */
  serviceName: string;
  /** Where spans are sent as OTLP/HTTP; unset: tracing is off. */
  tracesEndpoint: string | undefined;
  /** Sent with every export, e.g. a vendor's API key. */
  headers: Record<string, string>;
  /** Whether a request continues its caller's sampling decision (W3C `traceparent` flags) rather than drawing its own. */
  parentBased: boolean;
  /** The share of new traces that are recorded, from 0 to 1. */
  ratio: number;
}

export function toTracingConfig(service: string, env: TracingEnv): TracingConfig {
  const sampler = env.OTEL_TRACES_SAMPLER;
  const ratio = sampler.endsWith('always_off') ? 0 : sampler.endsWith('traceidratio') ? (env.OTEL_TRACES_SAMPLER_ARG ?? 1) : 1;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base === undefined ? undefined : `${base}/v1/traces`);
  return {
    serviceName: env.OTEL_SERVICE_NAME ?? service,
    tracesEndpoint: env.OTEL_SDK_DISABLED ? undefined : endpoint,
    headers: env.OTEL_EXPORTER_OTLP_HEADERS ?? {},
    parentBased: sampler.startsWith('parentbased_'),
    ratio,
  };
}

/** A deployment's name in what it shares with others: the prefix of its exchanges, queues and Redis channels. */
export const namespaceSchema = z.string().regex(/^[a-z][a-z0-9_.-]*$/, 'lower-case letters, digits, ".", "-" and "_"');

const DEFAULT_NAMESPACE = 'nexusflow';

/** Environment shared by every subgraph process. */
export const subgraphEnvShape = {
  NODE_ENV: nodeEnvSchema,
  LOG_LEVEL: logLevelSchema,
  /** Unset: pretty in development on a terminal, JSON otherwise (see defaultLogFormat). */
  LOG_FORMAT: logFormatSchema.optional(),
  HOST: z.string().default('127.0.0.1'),
  DATABASE_URL: postgresUrlSchema.optional(),
  /** Unset: the kit's defaults (see DatabaseOptions); 0: the server's own setting. */
  DATABASE_LOCK_TIMEOUT_MS: z.coerce.number().int().nonnegative().optional(),
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().nonnegative().optional(),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().nonnegative().optional(),
  DATA_DIR: z.string().default('.data'),
  REDIS_URL: redisUrlSchema.optional(),
  AMQP_URL: amqpUrlSchema.optional(),
  AMQP_NAMESPACE: namespaceSchema.default(DEFAULT_NAMESPACE),
  /** Unset: AMQP_NAMESPACE, so that one setting keeps a deployment apart on both the broker and Redis. */
  REDIS_NAMESPACE: namespaceSchema.optional(),
  INTERNAL_SECRET: sharedSecretSchema,
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  ...tracingEnvShape,
};

export interface SubgraphConfig {
  serviceName: string;
  nodeEnv: 'development' | 'production' | 'test';
  logLevel: z.output<typeof logLevelSchema>;
  /** Unset: chosen by NODE_ENV and whether standard output is a terminal (see defaultLogFormat). */
  logFormat: LogFormat | undefined;
  host: string;
  port: number;
  /** Unset: an embedded PGlite database under `dataDir`. */
  databaseUrl: string | undefined;
  /** On PostgreSQL: how long a statement may wait for a lock, run, and a session sit idle in a transaction; unset: the kit's defaults. */
  databaseLockTimeoutMs: number | undefined;
  databaseStatementTimeoutMs: number | undefined;
  databaseIdleInTransactionTimeoutMs: number | undefined;
  dataDir: string;
  /** Unset: in-process pub/sub. */
  redisUrl: string | undefined;
  /** Unset: in-process work queues and event bus. */
  amqpUrl: string | undefined;
  /** Prefix of exchange and queue names, so that deployments (and test runs) sharing a broker stay apart. */
  amqpNamespace: string;
  /** Prefix of Redis channels (`<namespace>:`), so that deployments sharing a Redis stay apart; AMQP_NAMESPACE unless set. */
  redisNamespace: string;
  internalSecret: string;
  shutdownTimeoutMs: number;
  /** OpenTelemetry traces: off unless an OTLP endpoint is set. */
  tracing: TracingConfig;
}

/** A service's defaults as the topology (`@nexusflow/topology`) gives them. */
export interface ServiceDefaults<LinkVariable extends string> {
  port: number;
  /**
   * The default of AMQP_NAMESPACE (and so of REDIS_NAMESPACE): the service's graph, so that two graphs sharing a broker
   * and a Redis keep their events, queues and channels apart. @default 'nexusflow'
   */
  namespace?: string;
  /** For each service it calls, the variable holding its GraphQL URL and the URL it has on this machine. */
  links?: Record<LinkVariable, string>;
}

/**
 * The variables every subgraph reads, with the service's default port and a URL variable for each service it calls;
 * a service spreads these into its own `z.object`.
 */
export function subgraphEnv<LinkVariable extends string = never>(service: ServiceDefaults<LinkVariable>) {
  const links = Object.fromEntries(
    Object.entries<string>(service.links ?? {}).map(([variable, url]) => [variable, z.url().default(url)]),
  ) as Record<LinkVariable, z.ZodDefault<z.ZodURL>>;
  return {
    ...subgraphEnvShape,
    PORT: portSchema.default(service.port),
    AMQP_NAMESPACE: namespaceSchema.default(service.namespace ?? DEFAULT_NAMESPACE),
    ...links,
  };
}

type SubgraphEnv = z.output<z.ZodObject<ReturnType<typeof subgraphEnv<never>>>>;

export function toSubgraphConfig(serviceName: string, env: SubgraphEnv): SubgraphConfig {
  return {
    serviceName,
    nodeEnv: env.NODE_ENV,
    logLevel: env.LOG_LEVEL,
    logFormat: env.LOG_FORMAT,
    host: env.HOST,
    port: env.PORT,
    databaseUrl: env.DATABASE_URL,
    databaseLockTimeoutMs: env.DATABASE_LOCK_TIMEOUT_MS,
    databaseStatementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    databaseIdleInTransactionTimeoutMs: env.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    dataDir: env.DATA_DIR,
    redisUrl: env.REDIS_URL,
    amqpUrl: env.AMQP_URL,
    amqpNamespace: env.AMQP_NAMESPACE,
    redisNamespace: env.REDIS_NAMESPACE ?? env.AMQP_NAMESPACE,
    internalSecret: secretOrDevelopmentDefault(env.INTERNAL_SECRET),
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    tracing: toTracingConfig(serviceName, env),
  };
}

/**
 * A subgraph's configuration, parsed once from `env` (the process environment when omitted): what every subgraph reads,
 * as `subgraph`, beside the service's own settings that `settings` takes from the same parse. INTERNAL_SECRET is
 * required in production, with `requiredInProduction`.
 */
export function loadSubgraphConfig<S extends z.ZodType<SubgraphEnv>, Settings extends object>(
  serviceName: string,
  schema: S,
  env: Environment | undefined,
  settings: (parsed: z.output<S>) => Settings,
  options: ParseConfigOptions = {},
): { subgraph: SubgraphConfig } & Settings {
  const requiredInProduction = ['INTERNAL_SECRET', ...(options.requiredInProduction ?? [])];
  const parsed = parseConfig(schema, env, { ...options, requiredInProduction });
  return { subgraph: toSubgraphConfig(serviceName, parsed), ...settings(parsed) };
}
