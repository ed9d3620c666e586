import { describe } from 'vitest';
import { testEnvironment } from '@nexusflow/kit/testing';
import { describeAuthThroughGateway } from './auth-flow.suite.ts';

// Runs when the real servers are given, as `.ci/run` always sets them.
describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)(
  'on the real PostgreSQL, Redis and RabbitMQ',
  () => {
    describeAuthThroughGateway('postgres');
  },
);
