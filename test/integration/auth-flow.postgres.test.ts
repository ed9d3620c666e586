import { describe } from 'vitest';
import { testEnvironment } from '@nexusflow/kit/testing';
import { describeAuthThroughGateway } from './auth-flow.suite.ts';

// Runs when TEST_POSTGRES_URL and TEST_REDIS_URL point at real servers, as `.ci/run` always sets them.
describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl)('on the real PostgreSQL and Redis', () => {
  describeAuthThroughGateway('postgres');
});
