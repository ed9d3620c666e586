import { z } from 'zod';
import { ciFlagSchema } from './ci.ts';
import { parseConfig, postgresUrlSchema, redisUrlSchema, amqpUrlSchema, type Environment } from '../platform/config.ts';

/** The names under which `.ci/run` hands the real servers to the tests. */
const SERVER_VARIABLES = ['TEST_POSTGRES_URL', 'TEST_REDIS_URL', 'TEST_AMQP_URL'] as const;

/**
 * The real servers that production-path tests run against. Each is optional on a developer's machine, where the tests
 * needing one skip; under CI (`CI` set, as `.ci/run` does) every one is required, so that a renamed or forgotten
 * variable fails the run instead of turning it green with fewer tests.
 */
const testEnvironmentSchema = z.object({
  CI: ciFlagSchema,
  TEST_POSTGRES_URL: postgresUrlSchema.optional(),
  TEST_REDIS_URL: redisUrlSchema.optional(),
  TEST_AMQP_URL: amqpUrlSchema.optional(),
  /** ClickHouse's HTTP interface, for the analytics ClickHouse store; optional even under CI, which runs no ClickHouse. */
  TEST_CLICKHOUSE_URL: z.url({ protocol: /^https?$/ }).optional(),
});

export interface TestEnvironment {
  /** Whether the tests run under CI, where nothing may be skipped for want of a server. */
  ci: boolean;
  postgresUrl: string | undefined;
  redisUrl: string | undefined;
  amqpUrl: string | undefined;
  clickhouseUrl: string | undefined;
}

/** Reads the test servers from `env`; under CI, throws naming every missing one. */
export function loadTestEnvironment(env: Environment = process.env): TestEnvironment {
  const parsed = parseConfig(testEnvironmentSchema, env);
  const missing = SERVER_VARIABLES.filter((name) => parsed[name] === undefined);
  if (parsed.CI && missing.length > 0) {
    throw new Error(
      `CI is set but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not: under CI no test may skip for want of a real server ` +
        '(.ci/run sets them; unset CI to run the embedded tests alone)',
    );
  }
  return {
    ci: parsed.CI,
    postgresUrl: parsed.TEST_POSTGRES_URL,
    redisUrl: parsed.TEST_REDIS_URL,
    amqpUrl: parsed.TEST_AMQP_URL,
    clickhouseUrl: parsed.TEST_CLICKHOUSE_URL,
  };
}

export const testEnvironment: TestEnvironment = loadTestEnvironment();
