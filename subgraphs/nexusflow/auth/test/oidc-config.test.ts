import { describe, expect, it } from 'vitest';
import { loadAuthConfig } from '../src/config.ts';

describe('the OIDC sign-in configuration', () => {
  it('has every provider off and no redirect URI by default, on the public issuers', () => {
    expect(loadAuthConfig({}).oidc).toEqual({
      redirectUris: [],
      signInTtlSeconds: 600,
      google: undefined,
      microsoft: undefined,
      github: undefined,
    });
  });

  it('turns a provider on with its client id and secret, both, as docker-compose leaves them blank when unset', () => {
    const { oidc } = loadAuthConfig({
      OIDC_GOOGLE_CLIENT_ID: 'google-id',
      OIDC_GOOGLE_CLIENT_SECRET: 'google-secret',
      OIDC_MICROSOFT_CLIENT_ID: 'microsoft-id',
      OIDC_MICROSOFT_CLIENT_SECRET: '',
      OIDC_GITHUB_CLIENT_ID: 'github-id',
      OIDC_GITHUB_CLIENT_SECRET: 'github-secret',
      OIDC_MICROSOFT_TRUST_EMAIL: '',
    });

    expect(oidc.google).toEqual({ clientId: 'google-id', clientSecret: 'google-secret', issuer: 'https://accounts.google.com' });
    expect(oidc.microsoft).toBeUndefined();
    expect(oidc.github).toEqual({
      clientId: 'github-id',
      clientSecret: 'github-secret',
      baseUrl: 'https://github.com',
      apiUrl: 'https://api.github.com',
    });
  });

  it("names Microsoft's common endpoint, whose email is not trusted unless configured", () => {
    const settings = { OIDC_MICROSOFT_CLIENT_ID: 'id', OIDC_MICROSOFT_CLIENT_SECRET: 'secret' };

    expect(loadAuthConfig(settings).oidc.microsoft).toMatchObject({
      issuer: 'https://login.microsoftonline.com/common/v2.0',
      trustEmail: false,
    });
    expect(loadAuthConfig({ ...settings, OIDC_MICROSOFT_TRUST_EMAIL: 'true' }).oidc.microsoft).toMatchObject({ trustEmail: true });
  });

  it('reads the redirect URIs as a comma-separated list of http(s) URLs without query or fragment', () => {
    const uris = 'https://app.example/auth/callback, http://localhost:5173/callback';

    expect(loadAuthConfig({ OIDC_REDIRECT_URIS: uris }).oidc.redirectUris).toEqual([
      'https://app.example/auth/callback',
      'http://localhost:5173/callback',
    ]);
    expect(() => loadAuthConfig({ OIDC_REDIRECT_URIS: 'https://app.example/callback?next=/' })).toThrow(
      'must have no query and no fragment',
    );
    expect(() => loadAuthConfig({ OIDC_REDIRECT_URIS: 'javascript:alert(1)' })).toThrow('OIDC_REDIRECT_URIS');
  });
});
