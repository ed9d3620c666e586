import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { FakeSamlIdp, formFields } from '../../subgraphs/nexusflow/auth/test/support/fake-saml-idp.ts';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { ask } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';

const SERVICE_PROVIDER = '{ samlServiceProvider { entityId acsUrl metadataXml } }';
const CONFIGURE = `mutation ($input: ConfigureSamlConnectionInput!) {
  configureSamlConnection(input: $input) { __typename ... on SamlConnection { idpEntityId jitRole } ... on InvalidInput { fields { field } } }
}`;
const CONNECTION = '{ samlConnection { idpEntityId ssoUrl jitRole } }';
const REMOVE = 'mutation { removeSamlConnection { removed } }';
const START = `mutation ($tenantSlug: String!, $relayState: String) {
  startSamlSignIn(tenantSlug: $tenantSlug, relayState: $relayState) {
    __typename ... on SamlSignInRedirect { url } ... on SamlSignInFailed { reason }
  }
}`;
const COMPLETE = `mutation ($samlResponse: String!, $relayState: String) {
  completeSamlSignIn(samlResponse: $samlResponse, relayState: $relayState) {
    __typename ... on AuthSession { accessToken user { id } } ... on SamlSignInFailed { reason }
  }
}`;
const ME = '{ me { id email roles tenant { id } } }';

/**
 * SAML single sign-on end to end: an owner sets up their IdP through the gateway, a new colleague signs in through it
 * (SP-initiated, the browser's trips to the fake IdP done by fetch), and the token completeSamlSignIn gives works at
 * the gateway as a member of that tenant.
 */
describe('SAML single sign-on through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let idp: FakeSamlIdp;
    let owner: SignedUp;
    let tenant: { id: string; slug: string };

    beforeAll(async () => {
      stack = await startStack(mode, `saml_${mode}`);
      idp = await FakeSamlIdp.start();
      owner = await signUp(stack.gateway.graphqlUrl, 'saml');
      tenant = (await ask(stack, owner.token, '{ me { tenant { id slug } } }')).data?.me.tenant;
    });

    afterAll(async () => {
      await idp?.close();
      await stack?.close();
    });

    const anonymously = (document: string, variables: Record<string, unknown>) =>
      postGraphQL<Record<string, any>>(stack.gateway.graphqlUrl, document, { variables });

    it("signs a new colleague in through the tenant's IdP, with a token the gateway accepts for that tenant", async () => {
      const provider = (await ask(stack, owner.token, SERVICE_PROVIDER)).data?.samlServiceProvider;
      expect(provider.acsUrl).toBe(`${provider.entityId}/acs`);
      expect(provider.metadataXml).toContain(`entityID="${provider.entityId}"`);
      const configured = (await ask(stack, owner.token, CONFIGURE, { input: { metadataXml: idp.metadataXml(), jitRole: 'VIEWER' } })).data
        ?.configureSamlConnection;
      expect(configured).toEqual({ __typename: 'SamlConnection', idpEntityId: idp.entityId, jitRole: 'VIEWER' });
      expect((await ask(stack, owner.token, CONNECTION)).data?.samlConnection).toEqual({
        idpEntityId: idp.entityId,
        ssoUrl: idp.ssoUrl,
        jitRole: 'VIEWER',
      });

      const email = `colleague-${crypto.randomUUID()}@example.com`;
      idp.signInAs({ email, name: 'Colleague' });
      const started = (await anonymously(START, { tenantSlug: tenant.slug, relayState: '/home' })).data?.startSamlSignIn;
      expect(started.__typename).toBe('SamlSignInRedirect');
      const posted = formFields(await (await fetch(started.url)).text());
      const completed = (await anonymously(COMPLETE, { samlResponse: posted.SAMLResponse, relayState: posted.RelayState })).data
        ?.completeSamlSignIn;
      expect(completed.__typename).toBe('AuthSession');

      const me = (await ask(stack, completed.accessToken, ME)).data?.me;
      expect(me).toEqual({ id: completed.user.id, email, roles: ['VIEWER'], tenant: { id: tenant.id } });
      // A VIEWER reads and never writes: the gateway and the subgraphs hold the token to its role.
      expect((await ask(stack, completed.accessToken, CONNECTION)).errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);

      const replayed = (await anonymously(COMPLETE, { samlResponse: posted.SAMLResponse })).data?.completeSamlSignIn;
      expect(replayed).toEqual({ __typename: 'SamlSignInFailed', reason: 'REPLAYED' });
    });

    it('stops SAML sign-ins to the tenant once the owner removes the connection', async () => {
      await ask(stack, owner.token, CONFIGURE, { input: { metadataXml: idp.metadataXml() } });
      expect((await ask(stack, owner.token, REMOVE)).data?.removeSamlConnection).toEqual({ removed: true });
      expect((await anonymously(START, { tenantSlug: tenant.slug })).data?.startSamlSignIn).toEqual({
        __typename: 'SamlSignInFailed',
        reason: 'NOT_CONFIGURED',
      });
    });
  });
});
