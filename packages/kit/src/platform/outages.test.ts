import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DependencyUnavailableError, isDependencyOutage } from './outages.ts';

/** An error shaped as a driver throws it: a message plus the fields the driver sets. */
const driverError = (message: string, fields: Record<string, unknown> = {}) => Object.assign(new Error(message), fields);

/** As Apollo hands a resolver's failure to formatError: wrapped in a GraphQLError with a path. */
const asResolverError = (original: Error) => new GraphQLError(original.message, { path: ['me'], originalError: original });

describe('isDependencyOutage', () => {
  it('recognises a PostgreSQL connection refused, reset or never made, by socket error code', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']) {
      expect(isDependencyOutage(driverError(`connect ${code} 10.0.0.7:5432`, { code })), code).toBe(true);
    }
  });

  it('recognises PostgreSQL shutting down, starting up, out of connections or refusing them, by SQLSTATE', () => {
    expect(isDependencyOutage(driverError('terminating connection due to administrator command', { code: '57P01' }))).toBe(true);
    expect(isDependencyOutage(driverError('terminating connection because of crash of another server process', { code: '57P02' }))).toBe(
      true,
    );
    expect(isDependencyOutage(driverError('the database system is starting up', { code: '57P03' }))).toBe(true);
    expect(isDependencyOutage(driverError('sorry, too many clients already', { code: '53300' }))).toBe(true);
    expect(isDependencyOutage(driverError('connection failure', { code: '08006' }))).toBe(true);
    expect(isDependencyOutage(driverError('canceling statement due to lock timeout', { code: '55P03' }))).toBe(true);
    expect(isDependencyOutage(driverError('terminating connection due to idle-in-transaction timeout', { code: '25P03' }))).toBe(true);
    expect(isDependencyOutage(driverError('server closed the connection unexpectedly', { code: '08003' }))).toBe(true);
    expect(
      isDependencyOutage(driverError('database "x" is not currently accepting connections', { code: '55000', routine: 'CheckMyDatabase' })),
    ).toBe(true);
  });

  it('recognises what pg and pg-pool say without a code about a lost connection or a pool that waited too long', () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'Connection terminated due to connection timeout',
      'Connection terminated',
      'timeout exceeded when trying to connect',
      'Client has encountered a connection error and is not queryable',
      'Client was closed and is not queryable',
      'Cannot use a pool after calling end on the pool',
    ]) {
      expect(isDependencyOutage(driverError(message)), message).toBe(true);
    }
  });

  it('recognises Redis (ioredis) out of reach: retries exhausted, connection closed, command timed out', () => {
    const maxRetries = driverError(
      'Reached the max retries per request limit (which is 3). Refer to "maxRetriesPerRequest" option for details.',
    );
    Object.defineProperty(maxRetries, 'name', { value: 'MaxRetriesPerRequestError' });
    expect(isDependencyOutage(maxRetries)).toBe(true);
    expect(isDependencyOutage(driverError('Connection is closed.'))).toBe(true);
    expect(isDependencyOutage(driverError('Command timed out'))).toBe(true);
  });

  it('recognises RabbitMQ (amqplib) channels and connections closed under the caller', () => {
    const illegal = driverError('Channel closed');
    Object.defineProperty(illegal, 'name', { value: 'IllegalOperationError' });
    expect(isDependencyOutage(illegal)).toBe(true);
    expect(isDependencyOutage(driverError('channel closed'))).toBe(true);
    expect(isDependencyOutage(driverError('Channel ended, no reply will be forthcoming'))).toBe(true);
    expect(isDependencyOutage(driverError('Connection closed (Error: Unexpected close)'))).toBe(true);
    expect(isDependencyOutage(driverError('Heartbeat timeout'))).toBe(true);
  });

  it('recognises our own DependencyUnavailableError', () => {
    expect(isDependencyOutage(new DependencyUnavailableError('cannot publish: RabbitMQ did not answer within 5000 ms'))).toBe(true);
  });

  it('looks through GraphQL’s wrapping, causes and AggregateErrors', () => {
    const refused = driverError('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' });
    expect(isDependencyOutage(asResolverError(refused))).toBe(true);
    expect(isDependencyOutage(new Error('loading the user failed', { cause: refused }))).toBe(true);
    expect(isDependencyOutage(new AggregateError([driverError('connect ECONNREFUSED ::1:5432', { code: 'ECONNREFUSED' })], ''))).toBe(true);
  });

  it('does not take bugs, bad SQL or constraint violations for outages', () => {
    expect(isDependencyOutage(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(isDependencyOutage(driverError('relation "users" does not exist', { code: '42P01' }))).toBe(false);
    expect(isDependencyOutage(driverError('duplicate key value violates unique constraint "users_email_key"', { code: '23505' }))).toBe(
      false,
    );
    expect(isDependencyOutage(driverError('cannot lock rows in a view', { code: '55000', routine: 'CheckValidRowMarkRel' }))).toBe(false);
    expect(isDependencyOutage(driverError('password authentication failed for user "postgres"', { code: '28P01' }))).toBe(false);
    expect(isDependencyOutage(asResolverError(new RangeError('Invalid time value')))).toBe(false);
    expect(isDependencyOutage(undefined)).toBe(false);
    expect(isDependencyOutage('ECONNREFUSED')).toBe(false);
  });

  it('stops at a cycle of causes', () => {
    const first = new Error('first');
    const second = new Error('second', { cause: first });
    Object.assign(first, { cause: second });
    expect(isDependencyOutage(first)).toBe(false);
  });
});
