import { describe, expect, it } from 'vitest';
import { runsUnderCi } from './ci.ts';
import { loadTestEnvironment } from './environment.ts';

const servers = {
  TEST_POSTGRES_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  TEST_REDIS_URL: 'redis://127.0.0.1:6379',
  TEST_AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
};

describe('the test environment', () => {
  it('lets tests needing a missing server skip on a developer machine', () => {
    expect(loadTestEnvironment({ TEST_REDIS_URL: servers.TEST_REDIS_URL })).toEqual({
      ci: false,
      postgresUrl: undefined,
      redisUrl: servers.TEST_REDIS_URL,
      amqpUrl: undefined,
    });
  });

  it('fails under CI, naming every missing server, so that a renamed variable cannot turn the run green with fewer tests', () => {
    expect(() => loadTestEnvironment({ CI: 'true', TEST_REDIS_URL: servers.TEST_REDIS_URL })).toThrow(
      /^CI is set but TEST_POSTGRES_URL, TEST_AMQP_URL are not/,
    );
    expect(loadTestEnvironment({ CI: 'true', ...servers })).toMatchObject({ ci: true, postgresUrl: servers.TEST_POSTGRES_URL });
  });

  it('reads CI as CI systems set it, any value but false or 0', () => {
    expect([undefined, '', 'false', '0', 'true', '1', 'github'].map((CI) => runsUnderCi({ CI }))).toEqual([
      false,
      false,
      false,
      false,
      true,
      true,
      true,
    ]);
  });
});
