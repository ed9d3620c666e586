import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';
import { FakeSamlIdp } from './support/fake-saml-idp.ts';

interface SamlOfA {
  slug: string;
  entityId: string;
  acsUrl: string;
  /** A's IdP, whose key only A's connection trusts; it signs nothing in these cases but B's forgeries' names. */
  idpEntityId: string;
}

const CONFIGURE = `mutation ($input: ConfigureSamlConnectionInput!) { configureSamlConnection(input: $input) { __typename } }`;
const COMPLETE = `mutation ($samlResponse: String!) {
  completeSamlSignIn(samlResponse: $samlResponse) { __typename ... on SamlSignInFailed { reason } }
}`;

/** An IdP of tenant B's, which needs no server: B only ever signs responses with it. */
function idpOfB(): FakeSamlIdp {
  const idp = new FakeSamlIdp();
  idp.entityId = `https://idp.b.test/${crypto.randomUUID()}`;
  return idp;
}

/**
 * SAML single sign-on across tenants: tenant A's IdP connection, which tenant B can neither read, change nor use to
 * sign anyone into tenant A.
 */
export const isolationCases = defineIsolationCases<SamlOfA>({
  async setUp({ a, data }) {
    const idpEntityId = `https://idp.a.test/${crypto.randomUUID()}`;
    const configured = await data(a, CONFIGURE, {
      input: { idpEntityId, ssoUrl: 'https://idp.a.test/sso', signingCertificate: new FakeSamlIdp().key.certificate, jitRole: 'ADMIN' },
    });
    expect(configured.configureSamlConnection).toEqual({ __typename: 'SamlConnection' });
    const { samlServiceProvider, me } = await data(a, '{ samlServiceProvider { entityId acsUrl } me { tenant { slug } } }');
    return { slug: me.tenant.slug, ...samlServiceProvider, idpEntityId };
  },

  async stateOfA({ a, data }) {
    return data(
      a,
      '{ samlConnection { idpEntityId ssoUrl certificateFingerprint jitRole allowedEmailDomains } me { tenant { users { id } } } }',
    );
  },

  root: {
    'Query.samlConnection': async ({ b, data }) => {
      expect((await data(b, '{ samlConnection { idpEntityId } }')).samlConnection).toBeNull();
    },
    'Query.samlServiceProvider': async ({ b, data }, saml) => {
      const ofB = (await data(b, '{ samlServiceProvider { entityId acsUrl metadataXml } }')).samlServiceProvider;
      expect(ofB.entityId).not.toBe(saml.entityId);
      expect(JSON.stringify(ofB)).not.toContain(saml.entityId);
    },
    'Mutation.configureSamlConnection': async ({ b, data }) => {
      const idp = idpOfB();
      const configured = await data(b, CONFIGURE, {
        input: { idpEntityId: idp.entityId, ssoUrl: 'https://idp.b.test/sso', signingCertificate: idp.key.certificate, jitRole: 'ADMIN' },
      });
      expect(configured.configureSamlConnection).toEqual({ __typename: 'SamlConnection' });
    },
    'Mutation.removeSamlConnection': async ({ b, data }) => {
      expect((await data(b, 'mutation { removeSamlConnection { removed } }')).removeSamlConnection).toEqual({
        removed: expect.any(Boolean),
      });
    },
    // A sign-in page anyone may open: it sends the browser to A's IdP, which alone can vouch for anyone.
    'Mutation.startSamlSignIn': async ({ b, data }, saml) => {
      const started = (
        await data(b, 'mutation ($slug: String!) { startSamlSignIn(tenantSlug: $slug) { __typename } }', { slug: saml.slug })
      ).startSamlSignIn;
      expect(started).toEqual({ __typename: 'SamlSignInRedirect' });
    },
    'Mutation.completeSamlSignIn': async ({ b, data }, saml) => {
      const idp = idpOfB();
      const addressedToA = { email: b.email, acsUrl: saml.acsUrl, audience: saml.entityId };
      const asItself = (await data(b, COMPLETE, { samlResponse: idp.respond(addressedToA) })).completeSamlSignIn;
      expect(asItself).toEqual({ __typename: 'SamlSignInFailed', reason: 'UNKNOWN_IDP' });
      const asAsIdp = (await data(b, COMPLETE, { samlResponse: idp.respond({ ...addressedToA, issuer: saml.idpEntityId }) }))
        .completeSamlSignIn;
      expect(asAsIdp).toEqual({ __typename: 'SamlSignInFailed', reason: 'INVALID_SIGNATURE' });
    },
  },

  entities: {},
});
