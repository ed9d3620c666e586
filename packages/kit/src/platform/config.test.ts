import { afterEach, describe, it, expect, vi } from 'vitest';
import { z } from 'zod';
import {
  amqpUrlSchema,
  ConfigError,
  loadSubgraphConfig,
  logLevelSchema,
  nodeEnvSchema,
  parseConfig,
  portSchema,
  postgresUrlSchema,
  redisUrlSchema,
  secretOrDevelopmentDefault,
  sharedSecretSchema,
  subgraphEnv,
  toSubgraphConfig,
} from './config.ts';

const SECRET_A = 'a'.repeat(32);
const SECRET_B = 'b'.repeat(40);

function problemsOf(work: () => unknown): string[] {
  try {
    work();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const serviceSchema = z.object({
  NODE_ENV: nodeEnvSchema,
  PORT: portSchema.default(4000),
  DATABASE_URL: postgresUrlSchema.optional(),
  REDIS_URL: redisUrlSchema.optional(),
  API_NAME: z.string(),
});

describe('parseConfig', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('returns the parsed values with defaults filled in and numbers coerced', () => {
    const config = parseConfig(serviceSchema, { API_NAME: 'projects', PORT: '4010', UNRELATED: 'x' });

    expect(config).toEqual({ NODE_ENV: 'development', PORT: 4010, API_NAME: 'projects' });
  });

  it('reports every invalid variable in one ConfigError', () => {
    const work = () =>
      parseConfig(serviceSchema, { NODE_ENV: 'staging', PORT: 'eighty', DATABASE_URL: 'mysql://db/app', REDIS_URL: 'http://cache' });

    expect(work).toThrow(ConfigError);
    const problems = problemsOf(work);
    expect(problems).toHaveLength(5);
    expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual(['API_NAME', 'DATABASE_URL', 'NODE_ENV', 'PORT', 'REDIS_URL']);
    expect(problems).toContain('DATABASE_URL: must be a postgres or postgresql URL');
    expect(problems).toContain('REDIS_URL: must be a redis or rediss URL');
  });

  it('lists each problem on its own line of the error message', () => {
    let caught: unknown;
    try {
      parseConfig(serviceSchema, { PORT: '-1' });
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.name).toBe('ConfigError');
    expect(error.problems).toHaveLength(2);
    expect(error.message).toBe(`Invalid configuration:\n  - ${error.problems[0]}\n  - ${error.problems[1]}`);
    expect(error.message).toMatch(/^ {2}- PORT: /m);
    expect(error.message).toMatch(/^ {2}- API_NAME: /m);
  });

  it('treats blank variables as unset: defaults apply, optionals stay undefined, required ones are missing', () => {
    expect(parseConfig(serviceSchema, { API_NAME: 'projects', PORT: '', DATABASE_URL: '', NODE_ENV: '' })).toEqual({
      NODE_ENV: 'development',
      PORT: 4000,
      API_NAME: 'projects',
    });

    const problems = problemsOf(() => parseConfig(serviceSchema, { API_NAME: '' }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^API_NAME: /);
  });

  it('names the whole environment for a problem that belongs to no single variable', () => {
    const schema = z
      .object({ A: z.string().optional(), B: z.string().optional() })
      .refine((env) => env.A !== undefined || env.B !== undefined, 'set A or B');

    expect(problemsOf(() => parseConfig(schema, {}))).toEqual(['(environment): set A or B']);
  });

  it('reads process.env when no environment is given', () => {
    vi.stubEnv('KIT_CONFIG_TEST_VALUE', 'from-process-env');

    expect(parseConfig(z.object({ KIT_CONFIG_TEST_VALUE: z.string() }))).toEqual({ KIT_CONFIG_TEST_VALUE: 'from-process-env' });
  });
});

describe('the shared schemas', () => {
  it('accept ports from 0 to 65535 only, as integers', () => {
    expect(portSchema.parse('0')).toBe(0);
    expect(portSchema.parse('65535')).toBe(65535);
    expect(portSchema.safeParse('65536').success).toBe(false);
    expect(portSchema.safeParse('-1').success).toBe(false);
    expect(portSchema.safeParse('80.5').success).toBe(false);
    expect(portSchema.safeParse('http').success).toBe(false);
  });

  it('accept URLs only with their own protocols', () => {
    expect(postgresUrlSchema.safeParse('postgres://u:p@db:5432/app').success).toBe(true);
    expect(postgresUrlSchema.safeParse('postgresql://db/app').success).toBe(true);
    expect(postgresUrlSchema.safeParse('redis://db:6379').success).toBe(false);
    expect(redisUrlSchema.safeParse('redis://127.0.0.1:6379').success).toBe(true);
    expect(redisUrlSchema.safeParse('rediss://cache.internal:6380').success).toBe(true);
    expect(redisUrlSchema.safeParse('https://cache.internal').success).toBe(false);
    expect(amqpUrlSchema.safeParse('amqp://guest:guest@mq:5672').success).toBe(true);
    expect(amqpUrlSchema.safeParse('amqps://mq').success).toBe(true);
    expect(amqpUrlSchema.safeParse('not a url').success).toBe(false);
  });

  it('default NODE_ENV to development and LOG_LEVEL to info, and refuse unknown values', () => {
    expect(nodeEnvSchema.parse(undefined)).toBe('development');
    expect(logLevelSchema.parse(undefined)).toBe('info');
    expect(nodeEnvSchema.safeParse('prod').success).toBe(false);
    expect(logLevelSchema.safeParse('verbose').success).toBe(false);
  });

  it('require a shared secret to have at least 32 characters when it is set', () => {
    expect(sharedSecretSchema.parse(undefined)).toBeUndefined();
    expect(sharedSecretSchema.parse(SECRET_A)).toBe(SECRET_A);
    const result = sharedSecretSchema.safeParse('a'.repeat(31));
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('must be at least 32 characters');
  });
});

describe('parseConfig with requiredInProduction', () => {
  const schema = z.object({
    NODE_ENV: nodeEnvSchema,
    PORT: portSchema.default(80),
    JWT_SECRET: sharedSecretSchema,
    INTERNAL_SECRET: sharedSecretSchema,
  });
  const requiredInProduction = ['JWT_SECRET', 'INTERNAL_SECRET'];
  const parse = (env: Record<string, string>) => parseConfig(schema, env, { requiredInProduction });

  it('reports missing secrets together with every other bad variable', () => {
    expect(problemsOf(() => parse({ NODE_ENV: 'production', PORT: 'x' }))).toEqual([
      'PORT: Invalid input: expected number, received NaN',
      'JWT_SECRET: is required when NODE_ENV=production',
      'INTERNAL_SECRET: is required when NODE_ENV=production',
    ]);
  });

  it('flags every missing secret when NODE_ENV=production', () => {
    expect(problemsOf(() => parse({ NODE_ENV: 'production' }))).toEqual([
      'JWT_SECRET: is required when NODE_ENV=production',
      'INTERNAL_SECRET: is required when NODE_ENV=production',
    ]);
  });

  it('counts a blank secret as missing in production', () => {
    expect(problemsOf(() => parse({ NODE_ENV: 'production', JWT_SECRET: SECRET_A, INTERNAL_SECRET: '' }))).toEqual([
      'INTERNAL_SECRET: is required when NODE_ENV=production',
    ]);
  });

  it('refuses the public development default in production as it refuses a missing secret, in the same error', () => {
    const developmentDefault = secretOrDevelopmentDefault(undefined);

    expect(problemsOf(() => parse({ NODE_ENV: 'production', PORT: 'x', JWT_SECRET: developmentDefault }))).toEqual([
      'PORT: Invalid input: expected number, received NaN',
      'JWT_SECRET: must not be the development default',
      'INTERNAL_SECRET: is required when NODE_ENV=production',
    ]);
    expect(
      problemsOf(() => parse({ NODE_ENV: 'production', JWT_SECRET: developmentDefault, INTERNAL_SECRET: developmentDefault })),
    ).toEqual(['JWT_SECRET: must not be the development default', 'INTERNAL_SECRET: must not be the development default']);
  });

  it('lets the development default through outside production, where it is the default anyway', () => {
    const developmentDefault = secretOrDevelopmentDefault(undefined);

    expect(parse({ NODE_ENV: 'development', JWT_SECRET: developmentDefault })).toEqual({
      NODE_ENV: 'development',
      PORT: 80,
      JWT_SECRET: developmentDefault,
    });
  });

  it('accepts production when every secret is set', () => {
    expect(parse({ NODE_ENV: 'production', JWT_SECRET: SECRET_A, INTERNAL_SECRET: SECRET_B })).toEqual({
      NODE_ENV: 'production',
      PORT: 80,
      JWT_SECRET: SECRET_A,
      INTERNAL_SECRET: SECRET_B,
    });
  });

  it('does not ask for secrets outside production', () => {
    expect(parse({})).toEqual({ NODE_ENV: 'development', PORT: 80 });
    expect(parse({ NODE_ENV: 'test' })).toEqual({ NODE_ENV: 'test', PORT: 80 });
  });
});

describe('secretOrDevelopmentDefault', () => {
  it('keeps a configured secret and otherwise falls back to a long development value', () => {
    expect(secretOrDevelopmentDefault(SECRET_A)).toBe(SECRET_A);
    const fallback = secretOrDevelopmentDefault(undefined);
    expect(fallback.length).toBeGreaterThanOrEqual(32);
    expect(sharedSecretSchema.safeParse(fallback).success).toBe(true);
  });
});

describe('toSubgraphConfig', () => {
  const schema = z.object(subgraphEnv({ port: 4002 }));

  it('fills in the development defaults of a subgraph', () => {
    const config = toSubgraphConfig('projects', parseConfig(schema, {}));

    expect(config).toEqual({
      serviceName: 'projects',
      nodeEnv: 'development',
      logLevel: 'info',
      logFormat: undefined,
      host: '127.0.0.1',
      port: 4002,
      databaseUrl: undefined,
      dataDir: '.data',
      redisUrl: undefined,
      amqpUrl: undefined,
      amqpNamespace: 'nexusflow',
      redisNamespace: 'nexusflow',
      internalSecret: secretOrDevelopmentDefault(undefined),
      shutdownTimeoutMs: 10_000,
      tracing: { serviceName: 'projects', tracesEndpoint: undefined, headers: {}, parentBased: true, ratio: 1 },
    });
  });

  it('maps every variable a subgraph reads', () => {
    const env = parseConfig(schema, {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'pretty',
      HOST: '0.0.0.0',
      PORT: '5000',
      DATABASE_URL: 'postgres://db/projects',
      DATA_DIR: '/var/lib/projects',
      REDIS_URL: 'redis://cache:6379',
      AMQP_URL: 'amqp://broker:5672',
      AMQP_NAMESPACE: 'staging',
      INTERNAL_SECRET: SECRET_A,
      SHUTDOWN_TIMEOUT_MS: '2500',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://datadog-agent:4318',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    });

    expect(toSubgraphConfig('projects', env)).toEqual({
      serviceName: 'projects',
      nodeEnv: 'production',
      logLevel: 'warn',
      logFormat: 'pretty',
      host: '0.0.0.0',
      port: 5000,
      databaseUrl: 'postgres://db/projects',
      dataDir: '/var/lib/projects',
      redisUrl: 'redis://cache:6379',
      amqpUrl: 'amqp://broker:5672',
      amqpNamespace: 'staging',
      redisNamespace: 'staging',
      internalSecret: SECRET_A,
      shutdownTimeoutMs: 2500,
      tracing: {
        serviceName: 'projects',
        tracesEndpoint: 'http://datadog-agent:4318/v1/traces',
        headers: {},
        parentBased: true,
        ratio: 0.1,
      },
    });
  });

  it('keeps Redis channels under the deployment’s AMQP_NAMESPACE unless REDIS_NAMESPACE names another', () => {
    expect(toSubgraphConfig('projects', parseConfig(schema, { AMQP_NAMESPACE: 'staging' })).redisNamespace).toBe('staging');
    expect(
      toSubgraphConfig('projects', parseConfig(schema, { AMQP_NAMESPACE: 'staging', REDIS_NAMESPACE: 'staging-cache' })),
    ).toMatchObject({
      amqpNamespace: 'staging',
      redisNamespace: 'staging-cache',
    });
    expect(problemsOf(() => parseConfig(schema, { REDIS_NAMESPACE: 'Has Spaces' }))).toEqual([expect.stringMatching(/^REDIS_NAMESPACE: /)]);
  });

  it('refuses a log format other than json or pretty', () => {
    expect(problemsOf(() => parseConfig(schema, { LOG_FORMAT: 'text' }))).toEqual([expect.stringMatching(/^LOG_FORMAT: /)]);
  });

  it('refuses a non-positive shutdown timeout', () => {
    expect(problemsOf(() => parseConfig(schema, { SHUTDOWN_TIMEOUT_MS: '0' }))).toEqual([expect.stringMatching(/^SHUTDOWN_TIMEOUT_MS: /)]);
  });
});

describe('loadSubgraphConfig', () => {
  const schema = z.object({
    ...subgraphEnv({ port: 4002 }),
    PAGE_SIZE: z.coerce.number().int().default(20),
    API_KEY: z.string().optional(),
  });
  const load = (env: Record<string, string>) =>
    loadSubgraphConfig('projects', schema, env, (parsed) => ({ pageSize: parsed.PAGE_SIZE }), { requiredInProduction: ['API_KEY'] });

  it("gives what every subgraph reads as `subgraph`, beside the service's own settings", () => {
    const config = load({ PAGE_SIZE: '50' });
    expect(config.pageSize).toBe(50);
    expect(config.subgraph).toMatchObject({ serviceName: 'projects', port: 4002 });
  });

  it("requires INTERNAL_SECRET in production beside the service's own secrets, naming both at once", () => {
    expect(() => load({ NODE_ENV: 'production' })).toThrow(
      new ConfigError(['INTERNAL_SECRET: is required when NODE_ENV=production', 'API_KEY: is required when NODE_ENV=production']),
    );
  });
});
