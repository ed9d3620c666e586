import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomNonce, randomPKCECodeVerifier, randomState, type CustomFetch } from 'openid-client';
import { configuredProviders, type IdentityProvider } from '../src/domain/identity-providers.ts';
import { FakeOpenIdProvider, type IdTokenFault, type OpenIdAccount } from './support/fake-identity-providers.ts';

const ENTRA = 'https://login.microsoftonline.com';
const CALLBACK = 'https://app.example/auth/callback';

const personOf = (tenantId: string, claims: Record<string, unknown> = {}): OpenIdAccount => ({
  subject: `entra-${randomUUID()}`,
  email: `person-${randomUUID()}@contoso.example`,
  emailVerified: true,
  name: 'Person',
  claims: { tid: tenantId, ...claims },
});

/**
 * Microsoft's `common` endpoint serves every directory: its discovery names the issuer `…/{tenantid}/v2.0`, and each
 * ID token the issuer of the person's own directory. The fake stands where login.microsoftonline.com is (the fetch
 * below plays DNS), so that openid-client recognises Microsoft and checks each token against the template filled
 * with the token's `tid`.
 */
describe("Microsoft sign-in through the 'common' endpoint", () => {
  const microsoft = new FakeOpenIdProvider('microsoft-client', 'microsoft-secret', {
    path: '/common/v2.0',
    publicOrigin: ENTRA,
    issuerPerTenant: true,
  });
  const toTheFake: CustomFetch = (url, options) => fetch(url.replace(ENTRA, microsoft.origin), options as RequestInit);
  let provider: IdentityProvider;

  beforeAll(async () => {
    await microsoft.start();
    const settings = { clientId: microsoft.clientId, clientSecret: microsoft.clientSecret, issuer: `${ENTRA}/common/v2.0` };
    const providers = configuredProviders(
      {
        redirectUris: [CALLBACK],
        signInTtlSeconds: 600,
        google: undefined,
        github: undefined,
        microsoft: { ...settings, trustEmail: false },
      },
      toTheFake,
    );
    provider = providers.get('MICROSOFT')!;
  });

  afterAll(async () => {
    await microsoft.close();
  });

  async function signIn(account: OpenIdAccount, fault?: IdTokenFault) {
    const request = { redirectUri: CALLBACK, state: randomState(), nonce: randomNonce(), codeVerifier: randomPKCECodeVerifier() };
    const authorizationUrl = await provider.authorizationUrl(request);
    if (fault) microsoft.issueNextIdToken(fault);
    const { code } = await microsoft.authorize(authorizationUrl.href.replace(ENTRA, microsoft.origin), microsoft.signIn(account));
    return provider.profile({ ...request, code });
  }

  it('sends people to the common endpoint', async () => {
    const url = await provider.authorizationUrl({
      redirectUri: CALLBACK,
      state: randomState(),
      nonce: randomNonce(),
      codeVerifier: randomPKCECodeVerifier(),
    });

    expect(`${url.origin}${url.pathname}`).toBe(`${ENTRA}/common/v2.0/authorize`);
  });

  it("accepts people of any directory, each token checked against its own directory's issuer", async () => {
    const contoso = personOf(randomUUID());
    const fabrikam = personOf(randomUUID());

    expect(await signIn(contoso)).toMatchObject({ subject: contoso.subject });
    expect(await signIn(fabrikam)).toMatchObject({ subject: fabrikam.subject });
  });

  it('refuses a token whose issuer is not the directory its tid names', async () => {
    await expect(signIn(personOf(randomUUID()), 'from-another-issuer')).rejects.toMatchObject({ reason: 'INVALID_ID_TOKEN' });
  });

  it("takes the email as verified only when the token says its domain is the directory's, and never preferred_username", async () => {
    const unverified = await signIn(personOf(randomUUID()));
    const domainVerified = await signIn(personOf(randomUUID(), { xms_edov: true }));
    const withoutEmail = await signIn({ ...personOf(randomUUID(), { preferred_username: 'someone@contoso.example' }), email: null });

    expect(unverified).toMatchObject({ emailVerified: false });
    expect(domainVerified).toMatchObject({ emailVerified: true });
    expect(withoutEmail).toMatchObject({ email: null, emailVerified: false });
  });
});
