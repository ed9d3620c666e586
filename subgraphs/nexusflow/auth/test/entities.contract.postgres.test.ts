import { describe } from 'vitest';
import { testEnvironment } from '@nexusflow/kit/testing';
import { describeAuthEntityContract } from './entities.contract.suite.ts';

// Runs when TEST_POSTGRES_URL points at a real server, as `.ci/run` always sets it.
describe.runIf(testEnvironment.postgresUrl)('on the real PostgreSQL', () => {
  describeAuthEntityContract('postgres');
});
