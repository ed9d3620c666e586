import { randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { TEST_PASSWORD } from '../support/accounts.ts';
import { FakeSendGrid } from '../support/fake-providers.ts';
import { outboxDrained, RecordedEvents } from '../support/recorded-events.ts';
import { errorCodes } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';

const SESSION = `__typename ... on AuthSession { accessToken user { id role emailVerified mfaEnabled tenant { id } } }`;
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { ${SESSION} } }`;
const VERIFY = `mutation ($token: String!) { verifyEmail(token: $token) { __typename } }`;
const INVITE = `mutation ($input: InviteMemberInput!) { inviteMember(input: $input) { __typename ... on Invitation { id } } }`;
const ACCEPT = `mutation ($token: String!, $account: NewAccountInput) { acceptInvitation(token: $token, account: $account) { ${SESSION} } }`;
const BEGIN_MFA = `mutation { beginMfaEnrollment { ... on MfaEnrollment { manualEntryKey } } }`;
const CONFIRM_MFA = `mutation ($code: String!) { confirmMfaEnrollment(code: $code) { __typename } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { ${SESSION} ... on MfaRequired { challengeToken } } }`;
const COMPLETE_MFA = `mutation ($challengeToken: String!, $code: String!) { completeMfaSignIn(challengeToken: $challengeToken, code: $code) { ${SESSION} } }`;
const CREATE_API_KEY = `mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { ... on CreatedApiKey { secret } } }`;
const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id } } }`;
const WORKFLOWS = `{ workflows { edges { node { id } } } }`;
const ME = `{ me { id role emailVerified mfaEnabled tenant { id } } }`;
const WORKFLOW_INPUT = { name: 'Onboarding', steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }] };
const PERIOD_MS = 30_000;

/**
 * Identity and access as a team lives it, through the gateway: an owner registers and verifies their email, invites a
 * teammate by email, who joins, turns on MFA, signs in with a code and works with the role given; a viewer is refused
 * writes; a CI job runs a query with an API key; and every step leaves its event on the bus for audit and analytics.
 * SSO (test/integration/oidc-sign-in.test.ts, saml.test.ts) and revocation across gateways (sessions.test.ts) have
 * suites of their own.
 */
describe('A team’s identity journey through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let events: RecordedEvents;
    const sendgrid = new FakeSendGrid({ apiKey: 'SG.test-key' });
    // Gateway and auth share it; each authenticator code is then from a period of its own.
    const clock = { now: Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS };

    beforeAll(async () => {
      await sendgrid.start();
      stack = await startStack(mode, `identity_journey_${mode}`, {
        now: () => clock.now,
        notifications: { SENDGRID_API_URL: sendgrid.url, SENDGRID_API_KEY: 'SG.test-key' },
      });
      events = await RecordedEvents.start(stack.auth.eventBus, ['user.#', 'member.#', 'apikey.#', 'session.#']);
    });

    afterAll(async () => {
      await events?.stop();
      await stack?.close();
      await sendgrid.close();
    });

    async function send(document: string, options: { token?: string; apiKey?: string; variables?: Record<string, unknown> } = {}) {
      const { apiKey, ...rest } = options;
      return postGraphQL<Record<string, any>>(stack.gateway.graphqlUrl, document, {
        ...rest,
        ...(apiKey ? { headers: { 'x-api-key': apiKey } } : {}),
      });
    }

    async function data(document: string, options: Parameters<typeof send>[1] = {}) {
      const response = await send(document, options);
      expect(response.errors, document).toBeUndefined();
      return response.data!;
    }

    /** The token of the link in the latest email to `to` whose subject says `about`, as its reader would follow it. */
    async function linkTokenFrom(to: string, about: RegExp): Promise<string> {
      let body = '';
      await expect
        .poll(() => (body = sendgrid.accepted.findLast((sent) => sent.to === to && about.test(sent.subject))?.body ?? ''))
        .not.toBe('');
      return decodeURIComponent(/[?&]token=([^\s&]+)/.exec(body)![1]!);
    }

    it('takes an owner from registration to a team whose members work with the roles given', async () => {
      const ownerEmail = `journey-owner-${randomUUID()}@example.com`;
      const registered = (
        await data(REGISTER, { variables: { input: { email: ownerEmail, password: TEST_PASSWORD, name: 'Owner', tenantName: 'Journey' } } })
      ).register;
      expect(registered.user).toMatchObject({ role: 'OWNER', emailVerified: false });
      const owner = registered.accessToken as string;
      expect(
        (await data(VERIFY, { variables: { token: await linkTokenFrom(ownerEmail, /confirm your email/i) } })).verifyEmail.__typename,
      ).toBe('EmailVerified');
      expect((await data(ME, { token: owner })).me.emailVerified).toBe(true);

      const teammateEmail = `journey-teammate-${randomUUID()}@example.com`;
      await data(INVITE, { token: owner, variables: { input: { email: teammateEmail, role: 'MEMBER' } } });
      const invitationToken = await linkTokenFrom(teammateEmail, /invited you/);
      const joined = (await data(ACCEPT, { variables: { token: invitationToken, account: { name: 'Teammate', password: TEST_PASSWORD } } }))
        .acceptInvitation;
      expect(joined.user).toMatchObject({ role: 'MEMBER', emailVerified: true, tenant: { id: registered.user.tenant.id } });

      const secret = (await data(BEGIN_MFA, { token: joined.accessToken })).beginMfaEnrollment.manualEntryKey as string;
      const code = () => generate({ secret, epoch: Math.floor(clock.now / 1000) });
      expect(
        (await data(CONFIRM_MFA, { token: joined.accessToken, variables: { code: await code() } })).confirmMfaEnrollment.__typename,
      ).toBe('MfaRecoveryCodes');
      clock.now += PERIOD_MS;
      const challenged = (await data(LOGIN, { variables: { input: { email: teammateEmail, password: TEST_PASSWORD } } })).login;
      expect(challenged.__typename).toBe('MfaRequired');
      const signedIn = (await data(COMPLETE_MFA, { variables: { challengeToken: challenged.challengeToken, code: await code() } }))
        .completeMfaSignIn;
      expect(signedIn.user).toMatchObject({ role: 'MEMBER', mfaEnabled: true, tenant: { id: registered.user.tenant.id } });
      const workflow = (await data(CREATE_WORKFLOW, { token: signedIn.accessToken, variables: { input: WORKFLOW_INPUT } })).createWorkflow;
      expect(workflow.__typename).toBe('Workflow');

      const viewerEmail = `journey-viewer-${randomUUID()}@example.com`;
      await data(INVITE, { token: owner, variables: { input: { email: viewerEmail, role: 'VIEWER' } } });
      const viewer = (
        await data(ACCEPT, {
          variables: { token: await linkTokenFrom(viewerEmail, /invited you/), account: { name: 'Viewer', password: TEST_PASSWORD } },
        })
      ).acceptInvitation.accessToken as string;
      expect(errorCodes(await send(CREATE_WORKFLOW, { token: viewer, variables: { input: WORKFLOW_INPUT } }))).toEqual(['FORBIDDEN']);
      expect((await data(WORKFLOWS, { token: viewer })).workflows.edges).toEqual([{ node: { id: workflow.id } }]);

      const ciKey = (await data(CREATE_API_KEY, { token: owner, variables: { input: { name: 'CI', scopes: ['read'] } } })).createApiKey
        .secret as string;
      expect((await data(WORKFLOWS, { apiKey: ciKey })).workflows.edges).toEqual([{ node: { id: workflow.id } }]);
      expect(errorCodes(await send(CREATE_WORKFLOW, { apiKey: ciKey, variables: { input: WORKFLOW_INPUT } }))).toEqual(['FORBIDDEN']);

      await outboxDrained(stack.auth.database);
      await events.settle();
      const tenantId = registered.user.tenant.id as string;
      const types = events.events.filter((event) => event.tenantId === tenantId).map((event) => event.type);
      expect(new Set(types)).toEqual(
        new Set(['user.registered', 'user.login', 'member.invited', 'member.joined', 'user.mfa.enabled', 'apikey.created']),
      );
      expect(JSON.stringify(events.events)).not.toContain(invitationToken);
    });
  });
});
