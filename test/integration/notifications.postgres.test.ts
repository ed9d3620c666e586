import { describe } from 'vitest';
import { testEnvironment } from '@nexusflow/kit/testing';
import { describeNotificationsThroughGateway } from './notifications.suite.ts';

// Runs when the real PostgreSQL, Redis and RabbitMQ are given, as `.ci/run` always does.
describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)(
  'on the real PostgreSQL, Redis and RabbitMQ',
  () => {
    describeNotificationsThroughGateway('postgres');
  },
);
