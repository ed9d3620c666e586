import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMParser } from '@xmldom/xmldom';
import { Role, systemFork, type Identity } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { startAuthUnderTest, type AuthUnderTest } from './support/auth-under-test.ts';
import { FakeSamlIdp, formFields, newSigningKey, type AssertionOptions } from './support/fake-saml-idp.ts';

const REGISTER = `mutation ($input: RegisterInput!) {
  register(input: $input) { __typename ... on AuthSession { user { id tenant { id slug } } } }
}`;
const CONNECTION_FIELDS =
  'idpEntityId ssoUrl signingCertificate certificateFingerprint certificateExpiresAt jitRole allowedEmailDomains createdAt updatedAt';
const CONFIGURE = `mutation ($input: ConfigureSamlConnectionInput!) {
  configureSamlConnection(input: $input) {
    __typename
    ... on SamlConnection { ${CONNECTION_FIELDS} }
    ... on InvalidInput { fields { field problem } }
  }
}`;
const CONNECTION = `{ samlConnection { ${CONNECTION_FIELDS} } }`;
const SWITCH = `mutation ($tenantId: ID!) { switchTenant(tenantId: $tenantId) { __typename ... on AuthSession { user { tenant { id } } } } }`;
const REMOVE = 'mutation { removeSamlConnection { removed } }';
const SERVICE_PROVIDER = '{ samlServiceProvider { entityId acsUrl metadataXml } }';
const START = `mutation ($tenantSlug: String!, $relayState: String) {
  startSamlSignIn(tenantSlug: $tenantSlug, relayState: $relayState) {
    __typename
    ... on SamlSignInRedirect { url expiresAt }
    ... on SamlSignInFailed { reason }
    ... on InvalidInput { fields { field problem } }
  }
}`;
const COMPLETE = `mutation ($samlResponse: String!, $relayState: String) {
  completeSamlSignIn(samlResponse: $samlResponse, relayState: $relayState) {
    __typename
    ... on AuthSession { accessToken refreshToken user { id email name roles tenant { id } } }
    ... on SamlSignInFailed { reason message }
  }
}`;

type Caller = Extract<Identity, { kind: 'user' }>;
interface Tenant {
  owner: Caller;
  email: string;
  slug: string;
}

/** SAML single sign-on in the auth subgraph, against a fake IdP that signs real SAML 2.0 responses with xml-crypto. */
describe('SAML single sign-on per tenant', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let auth: AuthUnderTest;
    let subgraph: AuthUnderTest['subgraph'];
    let idp: FakeSamlIdp;
    let acme: Tenant;
    let globex: Tenant;

    beforeAll(async () => {
      auth = await startAuthUnderTest(mode, 'saml', { SAML_SP_BASE_URL: 'https://app.nexusflow.test/' });
      ({ subgraph } = auth);
      idp = await FakeSamlIdp.start();
      [acme, globex] = await Promise.all([register('acme'), register('globex')]);
      expect(await configure(acme.owner, { metadataXml: idp.metadataXml() })).toMatchObject({ __typename: 'SamlConnection' });
    });

    afterAll(async () => {
      await idp?.close();
      await auth?.close();
    });

    const ask = (identity: Identity, query: string, variables: Record<string, unknown> = {}) => auth.ask(identity, query, variables);

    async function register(label: string): Promise<Tenant> {
      const email = `${label}-owner-${crypto.randomUUID()}@example.com`;
      const input = { email, password: 'correct horse battery', name: `${label} owner`, tenantName: label };
      const session = (await ask({ kind: 'anonymous' }, REGISTER, { input })).data?.register;
      const owner: Caller = { kind: 'user', userId: session.user.id, tenantId: session.user.tenant.id, roles: [Role.Owner] };
      return { owner, email, slug: session.user.tenant.slug };
    }

    async function configure(identity: Identity, input: Record<string, unknown>) {
      return (await ask(identity, CONFIGURE, { input })).data?.configureSamlConnection;
    }

    async function serviceProviderOf(tenant: Tenant) {
      return (await ask(tenant.owner, SERVICE_PROVIDER)).data?.samlServiceProvider as {
        entityId: string;
        acsUrl: string;
        metadataXml: string;
      };
    }

    async function complete(samlResponse: string) {
      const response = await ask({ kind: 'anonymous' }, COMPLETE, { samlResponse });
      expect(response.errors).toBeUndefined();
      return response.data?.completeSamlSignIn;
    }

    /** A response of the fake IdP for `email`, addressed to `tenant` unless the options say otherwise. */
    async function responseFor(tenant: Tenant, email: string, options: Partial<AssertionOptions> = {}) {
      const { entityId, acsUrl } = await serviceProviderOf(tenant);
      return idp.respond({ email, name: 'Saml Person', acsUrl, audience: entityId, ...options });
    }

    const as = (tenant: Tenant, role: Role): Caller => ({ ...tenant.owner, roles: [role] });
    const newEmail = (label: string) => `${label}-${crypto.randomUUID()}@example.com`;

    async function rowsOf(sql: string, parameters: unknown[]) {
      return systemFork(subgraph.database).getConnection().execute(sql, parameters);
    }

    /** What a refused sign-in must not have made: a user with the email, members or sessions of the tenant. */
    async function traces(tenant: Tenant, email: string) {
      const [users] = await rowsOf('select count(*)::int as count from users where email = ?', [email]);
      const [members] = await rowsOf('select count(*)::int as count from memberships where tenant_id = ?', [tenant.owner.tenantId]);
      const [sessions] = await rowsOf('select count(*)::int as count from sessions where tenant_id = ?', [tenant.owner.tenantId]);
      return { users: users?.count, members: members?.count, sessions: sessions?.count };
    }

    async function expectRefused(samlResponse: string, reason: string, tenant: Tenant, emails: string[]) {
      const before = await traces(tenant, emails[0]!);
      const refused = await complete(samlResponse);
      expect(refused).toMatchObject({ __typename: 'SamlSignInFailed', reason });
      expect(refused.message).toEqual(expect.any(String));
      expect(await traces(tenant, emails[0]!)).toEqual({ ...before, users: 0 });
      for (const email of emails.slice(1)) expect((await traces(tenant, email)).users).toBe(0);
    }

    it('lets an OWNER configure the IdP from its metadata, and shows the certificate it will trust', async () => {
      const connection = (await ask(acme.owner, CONNECTION)).data?.samlConnection;
      expect(connection).toMatchObject({
        idpEntityId: idp.entityId,
        ssoUrl: idp.ssoUrl,
        jitRole: 'MEMBER',
        allowedEmailDomains: [],
      });
      expect(String(connection.signingCertificate).replace(/\s+/g, '')).toBe(idp.key.certificate.replace(/\s+/g, ''));
      expect(connection.certificateFingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(Date.parse(connection.certificateExpiresAt)).toBeGreaterThan(Date.now());
    });

    it('lets an ADMIN configure the IdP from its entity id, sign-on URL and certificate, with a JIT role and email domains', async () => {
      const initech = await register('initech');
      const configured = await configure(as(initech, Role.Admin), {
        idpEntityId: 'https://idp.initech.test/saml',
        ssoUrl: 'https://idp.initech.test/sso',
        signingCertificate: idp.key.certificate,
        jitRole: 'VIEWER',
        allowedEmailDomains: [' Initech.test ', 'initech.test', 'example.com'],
      });

      expect(configured).toMatchObject({
        __typename: 'SamlConnection',
        idpEntityId: 'https://idp.initech.test/saml',
        ssoUrl: 'https://idp.initech.test/sso',
        jitRole: 'VIEWER',
        allowedEmailDomains: ['example.com', 'initech.test'],
      });
      expect((await ask(initech.owner, CONNECTION)).data?.samlConnection).toEqual(
        Object.fromEntries(Object.entries(configured).filter(([field]) => field !== '__typename')),
      );
    });

    it('refuses VIEWERs and MEMBERs with FORBIDDEN and anonymous callers with UNAUTHENTICATED, changing nothing', async () => {
      const before = (await ask(acme.owner, CONNECTION)).data?.samlConnection;
      for (const role of [Role.Viewer, Role.Member]) {
        for (const [query, variables] of [
          [CONNECTION, {}],
          [SERVICE_PROVIDER, {}],
          [CONFIGURE, { input: { metadataXml: idp.metadataXml(), jitRole: 'ADMIN' } }],
          [REMOVE, {}],
        ] as const) {
          const response = await ask(as(acme, role), query, variables);
          expect(
            response.errors?.map((error) => error.extensions?.code),
            `${role} ${query}`,
          ).toEqual(['FORBIDDEN']);
        }
      }
      const anonymous = await ask({ kind: 'anonymous' }, CONFIGURE, { input: { metadataXml: idp.metadataXml() } });
      expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
      expect((await ask(acme.owner, CONNECTION)).data?.samlConnection).toEqual(before);
    });

    it('answers unusable settings with the fields at fault and configures nothing', async () => {
      const initrode = await register('initrode');
      expect(await configure(initrode.owner, { idpEntityId: ' ', ssoUrl: 'ftp://idp.test/sso', jitRole: 'OWNER' })).toEqual({
        __typename: 'InvalidInput',
        fields: [
          { field: 'idpEntityId', problem: 'must not be empty' },
          { field: 'ssoUrl', problem: 'must be an http(s) URL' },
          { field: 'jitRole', problem: 'must not be OWNER: a tenant has one owner' },
          { field: 'signingCertificate', problem: 'is required unless metadataXml is given' },
        ],
      });
      expect(await configure(initrode.owner, { metadataXml: idp.metadataXml(), ssoUrl: 'https://idp.test/sso' })).toEqual({
        __typename: 'InvalidInput',
        fields: [{ field: 'ssoUrl', problem: 'must be left out when metadataXml is given' }],
      });
      expect(await configure(initrode.owner, { metadataXml: '<md:EntityDescriptor' })).toEqual({
        __typename: 'InvalidInput',
        fields: [{ field: 'metadataXml', problem: 'is not well-formed XML' }],
      });
      const withoutRedirect = idp.metadataXml().replace(/<md:SingleSignOnService Binding="[^"]*HTTP-Redirect"[^>]*\/>/, '');
      expect((await configure(initrode.owner, { metadataXml: withoutRedirect })).fields).toEqual([
        { field: 'metadataXml', problem: 'has no SingleSignOnService with the HTTP-Redirect binding' },
      ]);
      expect(
        (
          await configure(initrode.owner, {
            idpEntityId: 'https://idp.test',
            ssoUrl: 'https://idp.test/sso',
            signingCertificate: '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----',
            allowedEmailDomains: ['not a domain'],
          })
        ).fields,
      ).toEqual([{ field: 'allowedEmailDomains.0', problem: 'must be a domain name, e.g. example.com' }]);
      expect(
        (
          await configure(initrode.owner, {
            idpEntityId: 'https://idp.test',
            ssoUrl: 'https://idp.test/sso',
            signingCertificate: 'bm90IGEgY2VydA==',
          })
        ).fields,
      ).toEqual([{ field: 'signingCertificate', problem: 'is not an X.509 certificate (PEM or base64 DER)' }]);
      expect((await ask(initrode.owner, CONNECTION)).data?.samlConnection).toBeNull();
    });

    it("serves each tenant's service provider metadata, with its own entity id and ACS URL", async () => {
      const provider = await serviceProviderOf(acme);
      expect(provider.entityId).toBe(`https://app.nexusflow.test/saml/${acme.owner.tenantId}`);
      expect(provider.acsUrl).toBe(`https://app.nexusflow.test/saml/${acme.owner.tenantId}/acs`);

      const errors: string[] = [];
      const metadata = new DOMParser({
        errorHandler: (level: string, message: string) => errors.push(`${level}: ${message}`),
      }).parseFromString(provider.metadataXml, 'text/xml').documentElement;
      expect(errors).toEqual([]);
      expect(metadata.namespaceURI).toBe('urn:oasis:names:tc:SAML:2.0:metadata');
      expect(metadata.localName).toBe('EntityDescriptor');
      expect(metadata.getAttribute('entityID')).toBe(provider.entityId);
      const acs = metadata.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:metadata', 'AssertionConsumerService')[0]!;
      expect(acs.getAttribute('Location')).toBe(provider.acsUrl);
      expect(acs.getAttribute('Binding')).toBe('urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');

      expect((await serviceProviderOf(globex)).entityId).toBe(`https://app.nexusflow.test/saml/${globex.owner.tenantId}`);
    });

    it('signs a person new to NexusFlow into the right tenant as a member with the JIT role', async () => {
      const email = newEmail('new-person');
      const session = await complete(await responseFor(acme, email.toUpperCase()));

      expect(session).toMatchObject({
        __typename: 'AuthSession',
        user: { email, name: 'Saml Person', roles: ['MEMBER'], tenant: { id: acme.owner.tenantId } },
      });
      expect(session.accessToken).toEqual(expect.any(String));
      const [user] = await rowsOf('select id, password_hash from users where email = ?', [email]);
      expect(user).toEqual({ id: session.user.id, password_hash: null });
      const memberships = await rowsOf('select tenant_id, role from memberships where user_id = ?', [session.user.id]);
      expect(memberships).toEqual([{ tenant_id: acme.owner.tenantId, role: 'MEMBER' }]);
    });

    it('refuses an account of another tenant, whose email the IdP names, and makes it no member here', async () => {
      const refused = await complete(await responseFor(acme, globex.email));
      expect(refused).toMatchObject({ __typename: 'SamlSignInFailed', reason: 'ACCOUNT_NOT_A_MEMBER' });
      expect(await rowsOf('select tenant_id, role from memberships where user_id = ?', [globex.owner.userId])).toEqual([
        { tenant_id: globex.owner.tenantId, role: 'OWNER' },
      ]);
    });

    it('signs a member who belongs to other tenants too into this one only: the session cannot switch to the others', async () => {
      const initech = await register('initech');
      await rowsOf(`insert into memberships (id, created_at, tenant_id, user_id, role) values (?, now(), ?, ?, 'MEMBER')`, [
        crypto.randomUUID(),
        acme.owner.tenantId,
        initech.owner.userId,
      ]);
      const session = await complete(await responseFor(acme, initech.email));
      expect(session).toMatchObject({
        __typename: 'AuthSession',
        user: { id: initech.owner.userId, roles: ['MEMBER'], tenant: { id: acme.owner.tenantId } },
      });
      const identity = await auth.identityOf(session.accessToken);
      const switched = await ask(identity, SWITCH, { tenantId: initech.owner.tenantId });
      expect(switched.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(switched.errors?.[0]?.message).toMatch(/single sign-on stays in it/);
      // Nor may it change the account itself: an authenticator enrolled here would hold the person's other sign-ins.
      const enrolled = await ask(identity, 'mutation { beginMfaEnrollment { __typename } }');
      expect(enrolled.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      // Signed in with their password, the same person switches as ever.
      const byPassword = await ask({ ...initech.owner, sessionId: crypto.randomUUID() }, SWITCH, { tenantId: acme.owner.tenantId });
      expect(byPassword.data?.switchTenant).toMatchObject({ __typename: 'AuthSession', user: { tenant: { id: acme.owner.tenantId } } });
    });

    it('accepts a signed Response as well as a signed Assertion, and an email given as an attribute', async () => {
      const email = newEmail('response-signed');
      expect(await complete(await responseFor(acme, email, { sign: 'response' }))).toMatchObject({ user: { email } });
      const byAttribute = newEmail('by-attribute');
      expect(await complete(await responseFor(acme, byAttribute, { emailAsAttribute: true }))).toMatchObject({
        user: { email: byAttribute },
      });
    });

    it('goes through the IdP from startSamlSignIn and back, answering its request once', async () => {
      const email = newEmail('sp-initiated');
      idp.signInAs({ email, name: 'Started Here' });
      const started = (await ask({ kind: 'anonymous' }, START, { tenantSlug: acme.slug, relayState: '/workflows' })).data?.startSamlSignIn;
      expect(started.__typename).toBe('SamlSignInRedirect');
      expect(started.url).toMatch(new RegExp(`^${idp.ssoUrl}\\?SAMLRequest=`));

      const form = formFields(await (await fetch(started.url)).text());
      const request = idp.requests.at(-1)!;
      const { entityId, acsUrl } = await serviceProviderOf(acme);
      expect(request).toMatchObject({ issuer: entityId, acsUrl, relayState: '/workflows' });
      expect(form.RelayState).toBe('/workflows');

      const session = (await ask({ kind: 'anonymous' }, COMPLETE, { samlResponse: form.SAMLResponse, relayState: form.RelayState })).data
        ?.completeSamlSignIn;
      expect(session).toMatchObject({
        __typename: 'AuthSession',
        user: { email, name: 'Started Here', tenant: { id: acme.owner.tenantId } },
      });

      // The IdP answering the same request again with a new assertion: the request was used up.
      const again = idp.respond({ email, acsUrl, audience: entityId, inResponseTo: request.id });
      await expectRefused(again, 'UNKNOWN_REQUEST', acme, [newEmail('unused')]);
      const forged = idp.respond({ email: newEmail('forged'), acsUrl, audience: entityId, inResponseTo: `_${crypto.randomUUID()}` });
      await expectRefused(forged, 'UNKNOWN_REQUEST', acme, [newEmail('unused')]);
    });

    it('answers a sign-in to a tenant without SAML, or to no tenant, alike', async () => {
      for (const tenantSlug of [globex.slug, `no-such-tenant-${crypto.randomUUID()}`]) {
        expect((await ask({ kind: 'anonymous' }, START, { tenantSlug })).data?.startSamlSignIn).toEqual({
          __typename: 'SamlSignInFailed',
          reason: 'NOT_CONFIGURED',
        });
      }
      expect(
        (await ask({ kind: 'anonymous' }, START, { tenantSlug: acme.slug, relayState: 'x'.repeat(81) })).data?.startSamlSignIn,
      ).toEqual({
        __typename: 'InvalidInput',
        fields: [{ field: 'relayState', problem: 'must be at most 80 bytes' }],
      });
    });

    it('refuses an assertion changed after signing', async () => {
      const email = newEmail('victim');
      const attacker = newEmail('attacker');
      const tampered = await responseFor(acme, email, { tamper: (xml) => xml.replaceAll(email, attacker) });
      await expectRefused(tampered, 'INVALID_SIGNATURE', acme, [attacker, email]);
    });

    it('refuses an assertion signed by another key than the configured certificate', async () => {
      const email = newEmail('other-key');
      await expectRefused(await responseFor(acme, email, { signingKey: newSigningKey('Impostor') }), 'INVALID_SIGNATURE', acme, [email]);
      await expectRefused(
        await responseFor(acme, email, { signingKey: newSigningKey('Impostor'), sign: 'response' }),
        'INVALID_SIGNATURE',
        acme,
        [email],
      );
    });

    it('refuses an expired assertion, and one not yet valid', async () => {
      const email = newEmail('expired');
      await expectRefused(await responseFor(acme, email, { issuedAt: new Date(Date.now() - 60 * 60_000) }), 'EXPIRED', acme, [email]);
      await expectRefused(await responseFor(acme, email, { issuedAt: new Date(Date.now() + 60 * 60_000) }), 'EXPIRED', acme, [email]);
    });

    it('refuses an assertion used a second time, even with a new signature', async () => {
      const email = newEmail('replayed');
      const response = await responseFor(acme, email);
      expect(await complete(response)).toMatchObject({ __typename: 'AuthSession' });
      const sessions = (await traces(acme, email)).sessions;

      expect(await complete(response)).toMatchObject({ __typename: 'SamlSignInFailed', reason: 'REPLAYED' });
      const [assertionId] = /ID="(_a[^"]+)"/.exec(Buffer.from(response, 'base64').toString('utf8'))!.slice(1);
      expect(await complete(await responseFor(acme, email, { assertionId }))).toMatchObject({ reason: 'REPLAYED' });
      expect((await traces(acme, email)).sessions).toBe(sessions);
    });

    it('lets exactly one of two concurrent uses of an assertion through', async () => {
      const response = await responseFor(acme, newEmail('raced'));
      const outcomes = await Promise.all([complete(response), complete(response), complete(response)]);
      expect(outcomes.map((outcome) => outcome.__typename ?? outcome.reason).sort()).toEqual([
        'AuthSession',
        'SamlSignInFailed',
        'SamlSignInFailed',
      ]);
      expect(outcomes.filter((outcome) => outcome.reason === 'REPLAYED')).toHaveLength(2);
    });

    it('refuses an assertion for another audience, and one sent to another recipient', async () => {
      const email = newEmail('misdirected');
      const { acsUrl } = await serviceProviderOf(acme);
      await expectRefused(await responseFor(acme, email, { audience: 'https://elsewhere.test/sp' }), 'WRONG_AUDIENCE', acme, [email]);
      // Addressed to acme's ACS, but meant for globex: globex's entity id is another audience.
      await expectRefused(
        await responseFor(acme, email, { audience: (await serviceProviderOf(globex)).entityId }),
        'WRONG_AUDIENCE',
        acme,
        [email],
      );
      await expectRefused(await responseFor(acme, email, { recipient: 'https://elsewhere.test/acs' }), 'WRONG_RECIPIENT', acme, [email]);
      await expectRefused(await responseFor(acme, email, { destination: `${acsUrl}/elsewhere` }), 'WRONG_RECIPIENT', acme, [email]);
      const nowhere = idp.respond({ email, acsUrl: 'https://elsewhere.test/acs', audience: 'https://elsewhere.test/sp' });
      await expectRefused(nowhere, 'WRONG_AUDIENCE', acme, [email]);
    });

    it('refuses assertions of an IdP the tenant did not configure, and any to a tenant without SAML', async () => {
      const email = newEmail('unknown-idp');
      const stranger = await FakeSamlIdp.start();
      try {
        const { entityId, acsUrl } = await serviceProviderOf(acme);
        await expectRefused(stranger.respond({ email, acsUrl, audience: entityId }), 'UNKNOWN_IDP', acme, [email]);
        // The configured IdP's name, but another IdP's key.
        await expectRefused(stranger.respond({ email, acsUrl, audience: entityId, issuer: idp.entityId }), 'INVALID_SIGNATURE', acme, [
          email,
        ]);
        await expectRefused(await responseFor(globex, email), 'NOT_CONFIGURED', globex, [email]);
      } finally {
        await stranger.close();
      }
    });

    it('passes on an IdP that did not sign the person in as IDP_ERROR', async () => {
      const email = newEmail('cancelled');
      await expectRefused(await responseFor(acme, email, { failure: 'AuthnFailed' }), 'IDP_ERROR', acme, [email]);
    });

    it('refuses emails outside the allowed domains, and answers what is not a SAML response as MALFORMED', async () => {
      const hooli = await register('hooli');
      await configure(hooli.owner, { metadataXml: idp.metadataXml(), allowedEmailDomains: ['hooli.test'] });
      const outsider = newEmail('outsider');
      await expectRefused(await responseFor(hooli, outsider), 'EMAIL_DOMAIN_NOT_ALLOWED', hooli, [outsider]);
      const insider = `insider-${crypto.randomUUID()}@hooli.test`;
      expect(await complete(await responseFor(hooli, insider))).toMatchObject({
        user: { email: insider, tenant: { id: hooli.owner.tenantId } },
      });

      for (const garbage of ['not base64 at all', Buffer.from('<html/>').toString('base64'), Buffer.from('<unclosed').toString('base64')]) {
        expect(await complete(garbage)).toMatchObject({ __typename: 'SamlSignInFailed', reason: 'MALFORMED' });
      }
    });

    it('stops SAML sign-ins at once when the connection is removed, and removing twice is harmless', async () => {
      const umbrella = await register('umbrella');
      await configure(umbrella.owner, { metadataXml: idp.metadataXml() });
      const response = await responseFor(umbrella, newEmail('too-late'));

      expect((await ask(umbrella.owner, REMOVE)).data?.removeSamlConnection).toEqual({ removed: true });
      expect((await ask(umbrella.owner, REMOVE)).data?.removeSamlConnection).toEqual({ removed: false });
      expect((await ask(umbrella.owner, CONNECTION)).data?.samlConnection).toBeNull();
      expect(await complete(response)).toMatchObject({ reason: 'NOT_CONFIGURED' });
    });

    it('records each SAML sign-in as a user.login event with the method saml', async () => {
      const email = newEmail('audited');
      const session = await complete(await responseFor(acme, email));
      const events = await rowsOf(
        `select type, tenant_id, payload from outbox_events where type = 'user.login' and payload->>'userId' = ?`,
        [session.user.id],
      );
      expect(events).toEqual([
        { type: 'user.login', tenant_id: acme.owner.tenantId, payload: expect.objectContaining({ method: 'saml' }) },
      ]);
    });

    it('forgets used assertions and unanswered requests once they have expired', async () => {
      const now = Date.now();
      await rowsOf(`insert into used_saml_assertions (tenant_id, assertion_id, expires_at) values (?, ?, ?), (?, ?, ?)`, [
        acme.owner.tenantId,
        '_expired',
        new Date(now - 1000),
        acme.owner.tenantId,
        '_live',
        new Date(now + 60 * 60_000),
      ]);
      await subgraph.services.saml.prune(systemFork(subgraph.database));
      const left = await rowsOf('select assertion_id from used_saml_assertions where assertion_id in (?, ?)', ['_expired', '_live']);
      expect(left).toEqual([{ assertion_id: '_live' }]);
      expect(await rowsOf('select id from saml_requests where expires_at <= ?', [new Date(now)])).toEqual([]);
    });
  });
});
