import { z } from 'zod';
import { parseConfig, postgresUrlSchema, redisUrlSchema, amqpUrlSchema } from '../config.ts';

/**
 * The real servers that production-path tests run against. Each is optional so that the suite runs
 * on a machine without them; `.ci/run` sets all three so that CI always covers both paths.
 */
const testEnvironmentSchema = z.object({
  TEST_POSTGRES_URL: postgresUrlSchema.optional(),
  TEST_REDIS_URL: redisUrlSchema.optional(),
  TEST_AMQP_URL: amqpUrlSchema.optional(),
});

export const testEnvironment = (() => {
  const parsed = parseConfig(testEnvironmentSchema);
  return { postgresUrl: parsed.TEST_POSTGRES_URL, redisUrl: parsed.TEST_REDIS_URL, amqpUrl: parsed.TEST_AMQP_URL };
})();
