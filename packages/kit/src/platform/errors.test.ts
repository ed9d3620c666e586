import { describe, it, expect } from 'vitest';
import { GraphQLError } from 'graphql';
import {
  badUserInput,
  clientError,
  ErrorCode,
  errorResponseBody,
  forbidden,
  formatClientError,
  INTERNAL_ERROR_MESSAGE,
  isErrorCode,
  notFound,
  SERVICE_UNAVAILABLE_MESSAGE,
  unauthenticated,
} from './errors.ts';

describe('isErrorCode', () => {
  it('recognises every ErrorCode value', () => {
    for (const code of Object.values(ErrorCode)) expect(isErrorCode(code)).toBe(true);
  });

  it('refuses other strings and non-strings', () => {
    expect(isErrorCode('DOWNSTREAM_SERVICE_ERROR')).toBe(false);
    expect(isErrorCode('not_found')).toBe(false);
    expect(isErrorCode(undefined)).toBe(false);
    expect(isErrorCode(404)).toBe(false);
  });
});

describe('clientError', () => {
  it('builds a GraphQLError carrying the code and extra extensions', () => {
    const error = clientError(ErrorCode.RateLimited, 'Slow down', { retryAfterSeconds: 30 });

    expect(error).toBeInstanceOf(GraphQLError);
    expect(error.message).toBe('Slow down');
    expect(error.extensions).toEqual({ retryAfterSeconds: 30, code: 'RATE_LIMITED' });
  });

  it('does not let the extra extensions override the code', () => {
    const error = clientError(ErrorCode.Conflict, 'Taken', { code: 'SOMETHING_ELSE' });

    expect(error.extensions.code).toBe('CONFLICT');
  });
});

describe('the error shortcuts', () => {
  it('unauthenticated has a default message that can be replaced', () => {
    expect(unauthenticated()).toMatchObject({ message: 'Authentication required', extensions: { code: 'UNAUTHENTICATED' } });
    expect(unauthenticated('Token expired')).toMatchObject({ message: 'Token expired', extensions: { code: 'UNAUTHENTICATED' } });
  });

  it('forbidden has a default message that can be replaced', () => {
    expect(forbidden()).toMatchObject({ message: 'Not allowed', extensions: { code: 'FORBIDDEN' } });
    expect(forbidden('Owners only')).toMatchObject({ message: 'Owners only', extensions: { code: 'FORBIDDEN' } });
  });

  it('notFound and badUserInput carry their codes', () => {
    expect(notFound('No such project')).toMatchObject({ message: 'No such project', extensions: { code: 'NOT_FOUND' } });
    expect(badUserInput('Too long', { field: 'name' })).toMatchObject({
      message: 'Too long',
      extensions: { code: 'BAD_USER_INPUT', field: 'name' },
    });
  });
});

describe('formatClientError', () => {
  it('keeps the message, location and path of an error with a known code', () => {
    const formatted = formatClientError({
      message: 'No such project',
      locations: [{ line: 2, column: 3 }],
      path: ['project'],
      extensions: { code: 'NOT_FOUND' },
    });

    expect(formatted).toEqual({
      message: 'No such project',
      locations: [{ line: 2, column: 3 }],
      path: ['project'],
      extensions: { code: 'NOT_FOUND' },
    });
  });

  it('keeps the public extensions code, retryAfterSeconds, field and serviceName', () => {
    const formatted = formatClientError({
      message: 'Slow down',
      extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 12, field: 'email', serviceName: 'auth' },
    });

    expect(formatted.extensions).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: 12, field: 'email', serviceName: 'auth' });
  });

  it('strips stack traces, exceptions and any other extension', () => {
    const formatted = formatClientError({
      message: 'Owners only',
      extensions: {
        code: 'FORBIDDEN',
        stacktrace: ['GraphQLError: Owners only', '    at resolver (/srv/app/src/resolvers.ts:10:5)'],
        exception: { sql: 'select * from users' },
        http: { status: 403 },
        response: { url: 'http://10.0.0.7:4001/graphql' },
      },
    });

    expect(formatted).toEqual({ message: 'Owners only', extensions: { code: 'FORBIDDEN' } });
  });

  it('replaces the message of an error with an unknown code by the generic one, still naming the subgraph it came from', () => {
    const formatted = formatClientError({
      message: 'connect ECONNREFUSED 10.0.0.7:5432',
      path: ['projects', 0, 'owner'],
      locations: [{ line: 1, column: 9 }],
      extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: 'accounts', stacktrace: ['at pg'] },
    });

    expect(formatted).toEqual({
      message: INTERNAL_ERROR_MESSAGE,
      path: ['projects', 0, 'owner'],
      locations: [{ line: 1, column: 9 }],
      extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'accounts' },
    });
    expect(INTERNAL_ERROR_MESSAGE).toBe('Internal server error');
  });

  it('treats an error without a code, or without extensions, as an internal error', () => {
    expect(formatClientError({ message: 'Cannot read properties of undefined', extensions: { foo: 1 } })).toEqual({
      message: INTERNAL_ERROR_MESSAGE,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(formatClientError({ message: 'relation "users" does not exist' })).toEqual({
      message: INTERNAL_ERROR_MESSAGE,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  });

  it('hides the message of an error explicitly coded INTERNAL_SERVER_ERROR', () => {
    const formatted = formatClientError({
      message: 'duplicate key value violates unique constraint "users_email_key"',
      extensions: { code: 'INTERNAL_SERVER_ERROR', exception: { detail: 'Key (email)=(a@b.c)' } },
    });

    expect(formatted).toEqual({ message: INTERNAL_ERROR_MESSAGE, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });

  it('answers SERVICE_UNAVAILABLE, keeping the path and saying nothing of where, when the error thrown is an outage of a dependency', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:5432'), { code: 'ECONNREFUSED' });
    const thrown = new GraphQLError(refused.message, { path: ['me'], originalError: refused });

    const formatted = formatClientError({ ...thrown.toJSON(), extensions: { code: 'INTERNAL_SERVER_ERROR' } }, thrown);

    expect(formatted).toEqual({ message: SERVICE_UNAVAILABLE_MESSAGE, path: ['me'], extensions: { code: 'SERVICE_UNAVAILABLE' } });
    expect(SERVICE_UNAVAILABLE_MESSAGE).toBe('Temporarily unavailable; try again shortly');
  });

  it('keeps an error with a known code as it is, whatever it wraps', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:5432'), { code: 'ECONNREFUSED' });
    const formatted = formatClientError(
      { message: 'No such project', extensions: { code: 'NOT_FOUND' } },
      new GraphQLError('No such project', { originalError: refused }),
    );

    expect(formatted).toEqual({ message: 'No such project', extensions: { code: 'NOT_FOUND' } });
  });

  it('still answers INTERNAL_SERVER_ERROR for a failure that is not an outage', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'id')");

    expect(formatClientError({ message: bug.message, extensions: { code: 'INTERNAL_SERVER_ERROR' } }, bug)).toEqual({
      message: INTERNAL_ERROR_MESSAGE,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  });

  it('answers BAD_USER_INPUT, with its length and nothing of the column, when the database refused a value it was given', () => {
    const tooLong = Object.assign(new Error('value too long for type character varying(255)'), { code: '22001', table: 'contact_points' });
    const thrown = new GraphQLError(tooLong.message, { path: ['setContactPoints'], originalError: tooLong });

    expect(formatClientError({ ...thrown.toJSON(), extensions: { code: 'INTERNAL_SERVER_ERROR' } }, thrown)).toEqual({
      message: 'A text value is longer than allowed (at most 255 characters)',
      path: ['setContactPoints'],
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('tells dates out of range apart, and leaves the data exceptions a caller does not cause, and other SQLSTATEs, internal', () => {
    const refused = (code: string, message = 'refused') =>
      formatClientError({ message, extensions: {} }, Object.assign(new Error(message), { code }));

    expect(refused('22008')).toEqual({ message: 'A date or time is out of the range allowed', extensions: { code: 'BAD_USER_INPUT' } });
    // The service's own mistakes, whatever their class.
    expect(refused('22012').extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(refused('22P02').extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(refused('23505').extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(refused('42P01').extensions?.code).toBe('INTERNAL_SERVER_ERROR');
  });

  it('formats what a real GraphQLError serialises to', () => {
    const error = badUserInput('Name is required', { field: 'name', internalHint: 'validator 3' });

    expect(formatClientError(error.toJSON())).toEqual({
      message: 'Name is required',
      extensions: { code: 'BAD_USER_INPUT', field: 'name' },
    });
  });
});

describe('errorResponseBody', () => {
  it('is a GraphQL response body with one error carrying the code', () => {
    const body = JSON.parse(errorResponseBody(ErrorCode.RateLimited, 'Too many requests', { retryAfterSeconds: 7 })) as unknown;

    expect(body).toEqual({ errors: [{ message: 'Too many requests', extensions: { retryAfterSeconds: 7, code: 'RATE_LIMITED' } }] });
  });

  it('does not let the extra extensions override the code', () => {
    const body = JSON.parse(errorResponseBody(ErrorCode.PayloadTooLarge, 'Too big', { code: 'OTHER' })) as {
      errors: { extensions: { code: string } }[];
    };

    expect(body.errors[0]?.extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });
});
