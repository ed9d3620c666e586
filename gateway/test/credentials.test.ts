import { describe, expect, it } from 'vitest';
import { ANONYMOUS, Role, signAccessToken } from '@nexusflow/kit/core';
import { authenticateCredentials, type CredentialSource } from '../src/authenticate.ts';

const SECRET = 'credentials-test-secret-of-at-least-32-chars';
const NOW = Date.UTC(2026, 0, 1);
const now = () => NOW;
const subject = { userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Member] };

/** The same credentials as an HTTP request carries them, and as a WebSocket's connection_init does. */
const bothWays = (authorization: string | undefined): [string, CredentialSource][] => [
  ['an HTTP Authorization header', { authorizationHeader: authorization }],
  ['WebSocket connection params', { connectionParams: authorization === undefined ? {} : { authorization } }],
];

describe('one credential parser for HTTP and WebSocket', () => {
  it.each(bothWays(undefined))('takes no credentials in %s for an anonymous caller', async (_way, source) => {
    expect(await authenticateCredentials(source, SECRET, now)).toEqual({ identity: ANONYMOUS });
  });

  it('finds the same caller, with the same expiry, whichever way the bearer token came', async () => {
    const { token, expiresAt } = await signAccessToken(subject, SECRET, 900, NOW);
    const expected = { identity: { kind: 'user', ...subject }, expiresAt: expiresAt.getTime() };

    for (const [, source] of bothWays(`Bearer ${token}`)) expect(await authenticateCredentials(source, SECRET, now)).toEqual(expected);
    expect(await authenticateCredentials({ connectionParams: { Authorization: ` Bearer ${token} ` } }, SECRET, now)).toEqual(expected);
    expect(await authenticateCredentials({ connectionParams: { token } }, SECRET, now)).toEqual(expected);
  });

  it.each(bothWays('Bearer forged.token.value'))('refuses a forged token in %s as invalid_token', async (_way, source) => {
    expect(await authenticateCredentials(source, SECRET, now)).toEqual({ error: 'invalid_token', message: 'Access token is invalid' });
  });

  it('refuses an expired token the same way over both, saying it expired', async () => {
    const { token } = await signAccessToken(subject, SECRET, 60, NOW - 3_600_000);
    for (const [, source] of bothWays(`Bearer ${token}`))
      expect(await authenticateCredentials(source, SECRET, now)).toEqual({ error: 'invalid_token', message: 'Access token has expired' });
  });

  it('refuses an HTTP header that is not a bearer token as invalid_request, and takes a bare token in connection params', async () => {
    const { token } = await signAccessToken(subject, SECRET, 900, NOW);

    expect(await authenticateCredentials({ authorizationHeader: token }, SECRET, now)).toEqual({
      error: 'invalid_request',
      message: 'Authorization header must be "Bearer <access token>"',
    });
    expect(await authenticateCredentials({ connectionParams: { authorization: token } }, SECRET, now)).toMatchObject({
      identity: { userId: 'user-1' },
    });
  });

  it('refuses an API key when no lookup can vouch for it, and more than one credential as invalid_request', async () => {
    const refused = { error: 'invalid_token', message: 'API key is invalid, revoked or expired' };
    for (const [, source] of bothWays('Bearer nfk_some-key')) expect(await authenticateCredentials(source, SECRET, now)).toEqual(refused);
    expect(await authenticateCredentials({ authorizationHeader: undefined, apiKeyHeader: 'nfk_some-key' }, SECRET, now)).toEqual(refused);
    expect(await authenticateCredentials({ connectionParams: { apiKey: 'nfk_some-key' } }, SECRET, now)).toEqual(refused);

    expect(await authenticateCredentials({ authorizationHeader: 'Bearer a.b.c', apiKeyHeader: 'nfk_some-key' }, SECRET, now)).toEqual({
      error: 'invalid_request',
      message: 'Send one credential: an Authorization header or one x-api-key header',
    });
    expect(await authenticateCredentials({ authorizationHeader: undefined, apiKeyHeader: 'a.b.c' }, SECRET, now)).toEqual({
      error: 'invalid_request',
      message: 'x-api-key must be an API key (nfk_…)',
    });
  });
});
