import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { TEST_PASSWORD, signUp, type SignedUp } from '../support/accounts.ts';
import { FakeSendGrid } from '../support/fake-providers.ts';
import { ask, errorCodes } from '../support/requests.ts';
import { sampleMutationsOf } from '../support/sample-operations.ts';
import { startStack, type Stack } from '../support/stack.ts';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Mutations a VIEWER may call, each about the caller's own account, sessions or inbox rather than the tenant's data.
 * Every other mutation of the API is a write that a VIEWER is refused; a new one must be added here on purpose.
 */
const PERSONAL_MUTATIONS: Record<string, string> = {
  'Mutation.register': 'creates a tenant of its own',
  'Mutation.login': 'signs in',
  'Mutation.refreshSession': 'renews the caller’s own session',
  'Mutation.logout': 'ends the caller’s own session',
  'Mutation.switchTenant': 'moves the caller’s own session',
  'Mutation.acceptInvitation': 'joins a tenant the caller was invited to',
  'Mutation.leaveTenant': 'leaves the tenant',
  'Mutation.revokeSession': 'ends one of the caller’s own sessions',
  'Mutation.revokeAllSessions': 'ends the caller’s own sessions',
  'Mutation.markNotificationRead': 'the caller’s own inbox',
  'Mutation.markAllNotificationsRead': 'the caller’s own inbox',
  'Mutation.setNotificationPreference': 'the caller’s own preferences',
  'Mutation.setContactPoints': 'the caller’s own contact points',
  'Mutation.verifyEmail': 'proves the caller’s own email address',
  'Mutation.resendVerificationEmail': 'the caller’s own email address',
  'Mutation.requestPasswordReset': 'the caller’s own account, anonymously',
  'Mutation.resetPassword': 'the caller’s own account, anonymously',
  'Mutation.changePassword': 'the caller’s own password',
  'Mutation.beginMfaEnrollment': 'the caller’s own second factor',
  'Mutation.confirmMfaEnrollment': 'the caller’s own second factor',
  'Mutation.disableMfa': 'the caller’s own second factor',
  'Mutation.regenerateRecoveryCodes': 'the caller’s own second factor',
  'Mutation.completeMfaSignIn': 'signs in',
  'Mutation.startOidcSignIn': 'signs in',
  'Mutation.completeOidcSignIn': 'signs in',
  'Mutation.unlinkIdentity': 'the caller’s own linked sign-in',
  'Mutation.startSamlSignIn': 'signs in',
  'Mutation.completeSamlSignIn': 'signs in',
};

const SESSION = `__typename ... on AuthSession { accessToken refreshToken user { id role tenant { id } } }`;
const INVITE = `mutation ($input: InviteMemberInput!) { inviteMember(input: $input) { __typename ... on Invitation { id email role } } }`;
const INVITATIONS = `{ invitations { id email role invitedBy { id } } }`;
const REVOKE_INVITATION = `mutation ($id: ID!) { revokeInvitation(id: $id) { __typename ... on Invitation { id revokedAt } } }`;
const ACCEPT = `mutation ($token: String!, $account: NewAccountInput) {
  acceptInvitation(token: $token, account: $account) { ${SESSION} ... on InvalidInvitation { problem } }
}`;
const MY_TENANTS = `{ myTenants { tenant { id name } role current } }`;
const SWITCH = `mutation ($tenantId: ID!) { switchTenant(tenantId: $tenantId) { ${SESSION} } }`;
const CHANGE_ROLE = `mutation ($userId: ID!, $role: Role!) { changeMemberRole(userId: $userId, role: $role) { __typename ... on User { id role } } }`;
const REMOVE = `mutation ($userId: ID!) { removeMember(userId: $userId) { __typename ... on RemoveMemberPayload { removedUserId } } }`;
const TRANSFER = `mutation ($userId: ID!) {
  transferOwnership(userId: $userId) { __typename ... on TransferOwnershipPayload { previousOwner { id role } newOwner { id role } } }
}`;
const LEAVE = `mutation { leaveTenant { __typename ... on LeaveTenantPayload { tenantId } } }`;
const ME = `{ me { id role tenant { id users { id role } } } }`;
const SET_CONTACT = `mutation ($input: ContactPointsInput!) { setContactPoints(input: $input) { email } }`;
const SET_PREFERENCE = `mutation ($eventType: String!, $channels: [Channel!]!) { setNotificationPreference(eventType: $eventType, channels: $channels) { channels } }`;
const MY_CONTACT = `{ contactPoints { email } me { notificationPreferences { channels } } }`;
const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id } } }`;
const WORKFLOWS = `{ workflows { edges { node { id } } } }`;
const WORKFLOW_INPUT = { name: 'Team work', steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }] };

/** A signed-in person as the web client holds them. */
interface Member {
  email: string;
  token: string;
  userId: string;
}

/**
 * Teams end to end: an owner invites by email (the link arrives through the notifications service at a fake SendGrid),
 * teammates accept and work with the role given, a VIEWER is refused every write of the API, and members are managed.
 */
describe('Teams through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let owner: SignedUp;
    const sendgrid = new FakeSendGrid({ apiKey: 'SG.test-key' });

    beforeAll(async () => {
      await sendgrid.start();
      stack = await startStack(mode, `teams_${mode}`, {
        notifications: { SENDGRID_API_URL: sendgrid.url, SENDGRID_API_KEY: 'SG.test-key' },
      });
      owner = await signUp(stack.gateway.graphqlUrl, 'team-owner');
    });

    afterAll(async () => {
      await stack?.close();
      await sendgrid.close();
    });

    async function data(token: string, document: string, variables?: Record<string, unknown>) {
      const response = await ask(stack, token, document, variables);
      expect(response.errors, document).toBeUndefined();
      return response.data!;
    }

    /** The invitation link's token, read from the email as the invited person would. */
    async function invitationLinkTokenFor(email: string): Promise<string> {
      let body = '';
      await expect
        .poll(() => (body = sendgrid.accepted.find((sent) => sent.to === email && sent.subject.includes('invited you'))?.body ?? ''))
        .not.toBe('');
      const link = /https?:\/\/\S+\/invitations\/accept\?token=(\S+)/.exec(body);
      if (!link) throw new Error(`no invitation link in ${body}`);
      return decodeURIComponent(link[1]!);
    }

    async function invite(role: string, email = `teammate-${randomUUID()}@example.com`) {
      const invited = (await data(owner.token, INVITE, { input: { email, role } })).inviteMember;
      expect(invited).toMatchObject({ __typename: 'Invitation', email, role });
      return { invitationId: invited.id as string, email };
    }

    async function joinAs(role: string, label: string): Promise<Member> {
      const { email } = await invite(role, `${label}-${randomUUID()}@example.com`);
      const token = await invitationLinkTokenFor(email);
      const accepted = (await data('', ACCEPT, { token, account: { name: label, password: TEST_PASSWORD } })).acceptInvitation;
      expect(accepted).toMatchObject({ __typename: 'AuthSession', user: { role } });
      return { email, token: accepted.accessToken, userId: accepted.user.id };
    }

    it('sends the invitation by email; the invited person accepts, and works in the tenant with the role given', async () => {
      const member = await joinAs('MEMBER', 'member');
      const me = (await data(member.token, ME)).me;
      expect(me).toMatchObject({ id: member.userId, role: 'MEMBER' });
      expect((me.tenant.users as { role: string }[]).map((user) => user.role)).toEqual(['OWNER', 'MEMBER']);
      const created = (await data(member.token, CREATE_WORKFLOW, { input: WORKFLOW_INPUT })).createWorkflow;
      expect(created.__typename).toBe('Workflow');
      const ownersView = ((await data(owner.token, WORKFLOWS)).workflows.edges as { node: { id: string } }[]).map((edge) => edge.node.id);
      expect(ownersView).toContain(created.id);
    });

    it('refuses a VIEWER every write of the API with FORBIDDEN, and changes nothing', async () => {
      const viewer = await joinAs('VIEWER', 'viewer');
      const mutations = sampleMutationsOf(join(repositoryRoot, 'schema/nexusflow/api-schema.graphql'));
      const writes = mutations.filter((mutation) => !Object.hasOwn(PERSONAL_MUTATIONS, mutation.coordinate));
      expect(Object.keys(PERSONAL_MUTATIONS).filter((coordinate) => !mutations.some((m) => m.coordinate === coordinate))).toEqual([]);
      expect(writes.length).toBeGreaterThan(15);
      const refusals: Record<string, (string | undefined)[]> = {};
      for (const write of writes) {
        const response = await ask(stack, viewer.token, write.document, write.variables);
        refusals[write.coordinate] = errorCodes(response);
      }
      expect(refusals).toEqual(Object.fromEntries(writes.map((write) => [write.coordinate, ['FORBIDDEN']])));
      expect((await data(viewer.token, WORKFLOWS)).workflows.edges).toHaveLength(1);
    });

    it('lists and withdraws open invitations, whose links then stop working', async () => {
      const { invitationId, email } = await invite('VIEWER');
      const open = (await data(owner.token, INVITATIONS)).invitations;
      expect(open).toContainEqual({ id: invitationId, email, role: 'VIEWER', invitedBy: { id: owner.userId } });
      const token = await invitationLinkTokenFor(email);
      expect((await data(owner.token, REVOKE_INVITATION, { id: invitationId })).revokeInvitation.revokedAt).not.toBeNull();
      const refused = (await data('', ACCEPT, { token, account: { name: 'Late', password: TEST_PASSWORD } })).acceptInvitation;
      expect(refused).toEqual({ __typename: 'InvalidInvitation', problem: 'REVOKED' });
    });

    it('lets a person of two tenants switch between them, each access token working in its own', async () => {
      const other = await signUp(stack.gateway.graphqlUrl, 'two-tenants');
      await invite('ADMIN', other.email);
      const token = await invitationLinkTokenFor(other.email);
      const joined = (await data(other.token, ACCEPT, { token })).acceptInvitation;
      expect(joined.user).toMatchObject({ role: 'ADMIN' });
      const tenants = (await data(joined.accessToken, MY_TENANTS)).myTenants;
      expect((tenants as { role: string; current: boolean }[]).map((membership) => [membership.role, membership.current])).toEqual([
        ['ADMIN', true],
        ['OWNER', false],
      ]);
      const ownTenantId = tenants[1].tenant.id as string;
      const switched = (await data(joined.accessToken, SWITCH, { tenantId: ownTenantId })).switchTenant;
      expect(switched.user).toMatchObject({ role: 'OWNER', tenant: { id: ownTenantId } });
      expect((await data(switched.accessToken, ME)).me.tenant.id).toBe(ownTenantId);
      expect((await data(joined.accessToken, ME)).me.tenant.id).not.toBe(ownTenantId);

      // Contact points and preferences are the person's in each tenant: setting them in the second does not collide.
      const work = `work-${randomUUID()}@example.com`;
      const own = `own-${randomUUID()}@example.com`;
      await data(joined.accessToken, SET_CONTACT, { input: { email: work } });
      await data(switched.accessToken, SET_CONTACT, { input: { email: own } });
      await data(joined.accessToken, SET_PREFERENCE, { eventType: '*', channels: ['IN_APP'] });
      await data(switched.accessToken, SET_PREFERENCE, { eventType: '*', channels: ['EMAIL'] });
      expect(await data(joined.accessToken, MY_CONTACT)).toEqual({
        contactPoints: { email: work },
        me: { notificationPreferences: [{ channels: ['IN_APP'] }] },
      });
      expect(await data(switched.accessToken, MY_CONTACT)).toEqual({
        contactPoints: { email: own },
        me: { notificationPreferences: [{ channels: ['EMAIL'] }] },
      });
    });

    it('changes roles, removes members and transfers ownership, cutting a removed member off at the gateway within seconds', async () => {
      const promoted = await joinAs('VIEWER', 'promoted');
      expect((await data(owner.token, CHANGE_ROLE, { userId: promoted.userId, role: 'MEMBER' })).changeMemberRole).toEqual({
        __typename: 'User',
        id: promoted.userId,
        role: 'MEMBER',
      });

      const removed = await joinAs('MEMBER', 'removed');
      expect((await data(removed.token, ME)).me.id).toBe(removed.userId);
      expect((await data(owner.token, REMOVE, { userId: removed.userId })).removeMember.removedUserId).toBe(removed.userId);
      // The gateway caches a session's standing for at most a second.
      await expect.poll(async () => errorCodes(await ask(stack, removed.token, ME)), { timeout: 5_000 }).toEqual(['UNAUTHENTICATED']);

      const leaving = await joinAs('VIEWER', 'leaving');
      expect((await data(leaving.token, LEAVE)).leaveTenant.__typename).toBe('LeaveTenantPayload');

      const heir = await joinAs('ADMIN', 'heir');
      const transferred = (await data(owner.token, TRANSFER, { userId: heir.userId })).transferOwnership;
      expect(transferred).toMatchObject({
        previousOwner: { id: owner.userId, role: 'ADMIN' },
        newOwner: { id: heir.userId, role: 'OWNER' },
      });
      const members = (await data(heir.token, ME)).me.tenant.users;
      expect((members as { id: string; role: string }[]).filter((user) => user.role === 'OWNER')).toEqual([
        { id: heir.userId, role: 'OWNER' },
      ]);
      const signedInAgain = await postGraphQL<Record<string, any>>(
        stack.gateway.graphqlUrl,
        `mutation ($input: LoginInput!) { login(input: $input) { ${SESSION} } }`,
        {
          variables: { input: { email: owner.email, password: TEST_PASSWORD } },
        },
      );
      expect(signedInAgain.data?.login.user.role).toBe('ADMIN');
    });
  });
});
