import { describe } from 'vitest';
import { testEnvironment } from '@nexusflow/kit/testing';
import { describeNotifyStep } from './notify-step.suite.ts';

// Runs when the real PostgreSQL, Redis and RabbitMQ are given, as `.ci/run` always does.
describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)(
  'on the real PostgreSQL, Redis and RabbitMQ',
  () => {
    describeNotifyStep('postgres');
  },
);
