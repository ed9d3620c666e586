import { describe, expect, it } from 'vitest';
import { loadTestEnvironment } from './environment.ts';
import { storageModes } from './storage-modes.ts';

const postgresOnly = loadTestEnvironment({ TEST_POSTGRES_URL: 'postgres://postgres@127.0.0.1:5432/postgres' });
const allServers = loadTestEnvironment({
  TEST_POSTGRES_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  TEST_REDIS_URL: 'redis://127.0.0.1:6379',
  TEST_AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
});

describe('the storage modes of a suite', () => {
  it('are embedded and postgres when every server the suite needs is given, named after those servers', () => {
    expect(storageModes(['postgres'], postgresOnly)).toEqual([
      { mode: 'embedded', storage: 'embedded storage' },
      { mode: 'postgres', storage: 'PostgreSQL' },
    ]);
    expect(storageModes(['postgres', 'redis', 'amqp'], allServers)).toEqual([
      { mode: 'embedded', storage: 'embedded storage' },
      { mode: 'postgres', storage: 'PostgreSQL, Redis and RabbitMQ' },
    ]);
  });

  it('are embedded alone on a machine missing one of the servers the suite needs', () => {
    expect(storageModes(['postgres', 'redis', 'amqp'], postgresOnly)).toEqual([{ mode: 'embedded', storage: 'embedded storage' }]);
    expect(storageModes(['postgres'], loadTestEnvironment({}))).toEqual([{ mode: 'embedded', storage: 'embedded storage' }]);
  });
});
