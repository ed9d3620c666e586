import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxEvent, Role, systemFork, type Identity } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import type { AuthConfig } from '../src/config.ts';
import { Invitation } from '../src/entities/invitation.entity.ts';
import { Membership } from '../src/entities/membership.entity.ts';
import { startAuthUnderTest, type AuthUnderTest, type SignedInIdentity } from './support/auth-under-test.ts';

const PASSWORD = 'correct horse battery';
const SESSION = `__typename ... on AuthSession { accessToken refreshToken user { id role tenant { id } } }`;
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { ${SESSION} } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { ${SESSION} ... on NotAMember { tenantId } } }`;
const REFRESH = `mutation ($token: String!) { refreshSession(refreshToken: $token) { ${SESSION} ... on InvalidRefreshToken { problem } } }`;
const INVITE = `mutation ($input: InviteMemberInput!) {
  inviteMember(input: $input) {
    __typename ... on Invitation { id email role expiresAt invitedBy { id } } ... on InvalidInput { fields { field } } ... on AlreadyMember { email }
  }
}`;
const INVITATIONS = `{ invitations { id email role } }`;
const REVOKE_INVITATION = `mutation ($id: ID!) { revokeInvitation(id: $id) { __typename ... on Invitation { revokedAt } } }`;
const ACCEPT = `mutation ($token: String!, $account: NewAccountInput) {
  acceptInvitation(token: $token, account: $account) {
    ${SESSION} ... on InvalidInvitation { problem } ... on SignInToAccept { email } ... on InvalidInput { fields { field } }
  }
}`;
const MY_TENANTS = `{ myTenants { tenant { id } role current } }`;
const SWITCH = `mutation ($tenantId: ID!) { switchTenant(tenantId: $tenantId) { ${SESSION} ... on NotAMember { tenantId } } }`;
const MEMBERS = `{ me { tenant { users { id role } } } }`;
const USER = `query ($id: ID!) { user(id: $id) { id role } }`;
const CHANGE_ROLE = `mutation ($userId: ID!, $role: Role!) {
  changeMemberRole(userId: $userId, role: $role) { __typename ... on User { id role } ... on MembershipChangeRefused { problem } }
}`;
const REMOVE = `mutation ($userId: ID!) {
  removeMember(userId: $userId) { __typename ... on RemoveMemberPayload { removedUserId } ... on MembershipChangeRefused { problem } }
}`;
const TRANSFER = `mutation ($userId: ID!) {
  transferOwnership(userId: $userId) {
    __typename ... on TransferOwnershipPayload { previousOwner { id role } newOwner { id role } } ... on MembershipChangeRefused { problem }
  }
}`;
const LEAVE = `mutation { leaveTenant { __typename ... on LeaveTenantPayload { tenantId } ... on MembershipChangeRefused { problem } } }`;
const SESSION_REVOKED = `query ($id: ID!) { sessionRevoked(id: $id) }`;

type UserIdentity = SignedInIdentity & { sessionId: string };

/** A signed-in person as a client holds them: the identity the gateway derives from the access token, and the refresh token. */
interface SignIn {
  identity: UserIdentity;
  refreshToken: string;
  email: string;
}

/**
 * Teams in the auth subgraph, asked as the gateway would. Invitation links are read from the service that signs them
 * (the whole-stack test reads them from the email instead), on a clock the test moves.
 */
describe('Teams in the auth subgraph', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let auth: AuthUnderTest;
    let subgraph: AuthUnderTest['subgraph'];
    let config: AuthConfig;
    const clock = { now: Date.now() };

    beforeAll(async () => {
      auth = await startAuthUnderTest(mode, 'teams', {}, clock);
      ({ subgraph, config } = auth);
    });

    afterAll(async () => {
      await auth?.close();
    });

    async function ask(identity: Identity, query: string, variables: Record<string, unknown> = {}) {
      // Each request a millisecond later than the one before, so that "most recent" is never a tie.
      clock.now += 1;
      return auth.ask(identity, query, variables);
    }

    async function answer(identity: Identity, query: string, variables: Record<string, unknown> = {}) {
      clock.now += 1;
      return auth.answer(identity, query, variables);
    }

    async function signedIn(session: { __typename: string; accessToken: string; refreshToken: string }, email: string): Promise<SignIn> {
      if (session.__typename !== 'AuthSession') throw new Error(`not signed in: ${JSON.stringify(session)}`);
      return { identity: (await auth.identityOf(session.accessToken)) as UserIdentity, refreshToken: session.refreshToken, email };
    }

    async function register(label: string): Promise<SignIn> {
      const email = `${label}-${randomUUID()}@example.com`;
      const input = { email, password: PASSWORD, name: label, tenantName: `${label}'s team` };
      return signedIn((await answer({ kind: 'anonymous' }, REGISTER, { input })).register, email);
    }

    async function login(email: string, tenantId?: string) {
      return (await answer({ kind: 'anonymous' }, LOGIN, { input: { email, password: PASSWORD, tenantId } })).login;
    }

    /** The link's token, as the invitation email carries it. */
    async function tokenOf(invitationId: string): Promise<string> {
      const invitation = await systemFork(subgraph.database).findOneOrFail(Invitation, { id: invitationId });
      return subgraph.services.teams.tokenFor(invitation);
    }

    async function invite(inviter: SignIn, email: string, role: Role) {
      const invited = (await answer(inviter.identity, INVITE, { input: { email, role } })).inviteMember;
      expect(invited.__typename).toBe('Invitation');
      return { invitation: invited, token: await tokenOf(invited.id) };
    }

    /** A new person who joins `owner`'s tenant with `role` through an invitation. */
    async function teammate(owner: SignIn, role: Role, label = 'teammate'): Promise<SignIn> {
      const email = `${label}-${randomUUID()}@example.com`;
      const { token } = await invite(owner, email, role);
      const accepted = (await answer({ kind: 'anonymous' }, ACCEPT, { token, account: { name: label, password: PASSWORD } }))
        .acceptInvitation;
      return signedIn(accepted, email);
    }

    async function sessionRevoked(signIn: SignIn): Promise<boolean> {
      return (await answer({ kind: 'anonymous' }, SESSION_REVOKED, { id: signIn.identity.sessionId })).sessionRevoked as boolean;
    }

    async function eventsOf(type: string, tenantId: string) {
      return systemFork(subgraph.database).find(OutboxEvent, { type, tenantId });
    }

    it('invites a new person by email, who accepts with a new account and works in the tenant with the role given', async () => {
      const owner = await register('owner');
      const email = `Newcomer-${randomUUID()}@Example.com`;
      const { invitation, token } = await invite(owner, email, Role.Member);
      expect(invitation).toMatchObject({ email: email.toLowerCase(), role: 'MEMBER', invitedBy: { id: owner.identity.userId } });
      expect(((await answer(owner.identity, INVITATIONS)).invitations as { id: string }[]).map((open) => open.id)).toEqual([invitation.id]);

      const accepted = (await answer({ kind: 'anonymous' }, ACCEPT, { token, account: { name: 'Newcomer', password: PASSWORD } }))
        .acceptInvitation;
      expect(accepted).toMatchObject({ __typename: 'AuthSession', user: { role: 'MEMBER', tenant: { id: owner.identity.tenantId } } });
      const newcomer = await signedIn(accepted, email);
      expect(newcomer.identity).toMatchObject({ tenantId: owner.identity.tenantId, roles: [Role.Member] });

      const members = (await answer(owner.identity, MEMBERS)).me.tenant.users;
      expect(members).toEqual([
        { id: owner.identity.userId, role: 'OWNER' },
        { id: newcomer.identity.userId, role: 'MEMBER' },
      ]);
      expect((await answer(owner.identity, INVITATIONS)).invitations).toEqual([]);
      expect((await eventsOf('member.invited', owner.identity.tenantId)).map((event) => event.payload)).toEqual([
        { invitationId: invitation.id, role: 'MEMBER', invitedBy: owner.identity.userId },
      ]);
      expect((await eventsOf('member.joined', owner.identity.tenantId)).map((event) => event.payload.userId)).toEqual([
        newcomer.identity.userId,
      ]);
    });

    it('accepts each link once, and refuses a tampered, withdrawn, replaced or expired one, changing nothing', async () => {
      const owner = await register('owner');
      const account = { name: 'Someone', password: PASSWORD };
      const accept = async (token: string) => (await answer({ kind: 'anonymous' }, ACCEPT, { token, account })).acceptInvitation;

      const used = await invite(owner, `once-${randomUUID()}@example.com`, Role.Viewer);
      expect((await accept(used.token)).__typename).toBe('AuthSession');
      expect(await accept(used.token)).toMatchObject({ __typename: 'InvalidInvitation', problem: 'USED' });

      const tampered = await invite(owner, `tampered-${randomUUID()}@example.com`, Role.Viewer);
      expect(await accept(`${tampered.token.slice(0, -2)}xx`)).toMatchObject({ problem: 'INVALID' });
      expect(await accept(`${randomUUID()}.${tampered.token.split('.')[1]}`)).toMatchObject({ problem: 'INVALID' });
      expect(await accept('not a token')).toMatchObject({ problem: 'INVALID' });

      const withdrawn = await invite(owner, `withdrawn-${randomUUID()}@example.com`, Role.Viewer);
      expect((await answer(owner.identity, REVOKE_INVITATION, { id: withdrawn.invitation.id })).revokeInvitation.revokedAt).not.toBeNull();
      expect(await accept(withdrawn.token)).toMatchObject({ problem: 'REVOKED' });

      const email = `replaced-${randomUUID()}@example.com`;
      const first = await invite(owner, email, Role.Viewer);
      const second = await invite(owner, email, Role.Member);
      expect(await accept(first.token)).toMatchObject({ problem: 'REVOKED' });

      clock.now += config.invitationTtlSeconds * 1000 + 1;
      expect(await accept(second.token)).toMatchObject({ problem: 'EXPIRED' });
      const members = (await answer(owner.identity, MEMBERS)).me.tenant.users;
      expect(members).toHaveLength(2);
    });

    it('lets an existing user accept while signed in, then switch between their tenants, each token naming one', async () => {
      const owner = await register('owner');
      const other = await register('other');
      const { token } = await invite(owner, other.email, Role.Admin);

      const anonymously = (await answer({ kind: 'anonymous' }, ACCEPT, { token })).acceptInvitation;
      expect(anonymously).toEqual({ __typename: 'SignInToAccept', email: other.email });
      const stranger = await register('stranger');
      expect((await answer(stranger.identity, ACCEPT, { token })).acceptInvitation.__typename).toBe('InvitationForAnotherEmail');

      const joined = await signedIn((await answer(other.identity, ACCEPT, { token })).acceptInvitation, other.email);
      expect(joined.identity).toMatchObject({ tenantId: owner.identity.tenantId, roles: [Role.Admin] });
      const tenants = (await answer(joined.identity, MY_TENANTS)).myTenants;
      expect(tenants).toEqual([
        { tenant: { id: owner.identity.tenantId }, role: 'ADMIN', current: true },
        { tenant: { id: other.identity.tenantId }, role: 'OWNER', current: false },
      ]);

      const switched = (await answer(joined.identity, SWITCH, { tenantId: other.identity.tenantId })).switchTenant;
      const back = await signedIn(switched, other.email);
      expect(back.identity).toMatchObject({ tenantId: other.identity.tenantId, roles: [Role.Owner], sessionId: joined.identity.sessionId });
      expect((await answer({ kind: 'anonymous' }, REFRESH, { token: joined.refreshToken })).refreshSession.problem).toBe('REVOKED');
      const refreshed = (await answer({ kind: 'anonymous' }, REFRESH, { token: back.refreshToken })).refreshSession;
      expect(refreshed.user.tenant.id).toBe(other.identity.tenantId);

      expect((await answer(back.identity, SWITCH, { tenantId: stranger.identity.tenantId })).switchTenant).toEqual({
        __typename: 'NotAMember',
        tenantId: stranger.identity.tenantId,
      });
      expect((await login(other.email, owner.identity.tenantId)).user.tenant.id).toBe(owner.identity.tenantId);
      // Without a tenant named, sign-in lands where the person worked last.
      expect((await login(other.email)).user.tenant.id).toBe(owner.identity.tenantId);
      expect(await login(other.email, stranger.identity.tenantId)).toEqual({
        __typename: 'NotAMember',
        tenantId: stranger.identity.tenantId,
      });
    });

    it('keeps members of other tenants out of sight and out of reach', async () => {
      const acme = await register('acme');
      const globex = await register('globex');
      const acmeMember = await teammate(acme, Role.Member);
      expect((await answer(globex.identity, USER, { id: acmeMember.identity.userId })).user).toBeNull();
      const change = (await answer(globex.identity, CHANGE_ROLE, { userId: acmeMember.identity.userId, role: 'VIEWER' })).changeMemberRole;
      expect(change.__typename).toBe('MemberNotFound');
      expect((await answer(globex.identity, REMOVE, { userId: acmeMember.identity.userId })).removeMember.__typename).toBe(
        'MemberNotFound',
      );
      expect((await answer(acme.identity, USER, { id: acmeMember.identity.userId })).user).toEqual({
        id: acmeMember.identity.userId,
        role: 'MEMBER',
      });
    });

    it('refuses managing members to MEMBERs and VIEWERs, and ADMINs managing other ADMINs, with FORBIDDEN', async () => {
      const owner = await register('owner');
      const admin = await teammate(owner, Role.Admin, 'admin');
      const otherAdmin = await teammate(owner, Role.Admin, 'other-admin');
      const member = await teammate(owner, Role.Member, 'member');
      const viewer = await teammate(owner, Role.Viewer, 'viewer');
      for (const caller of [member, viewer]) {
        const invited = await ask(caller.identity, INVITE, { input: { email: `x-${randomUUID()}@example.com`, role: 'VIEWER' } });
        expect(invited.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
        const changed = await ask(caller.identity, CHANGE_ROLE, { userId: viewer.identity.userId, role: 'MEMBER' });
        expect(changed.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
        expect((await ask(caller.identity, REMOVE, { userId: viewer.identity.userId })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      }
      const onAdmin = await ask(admin.identity, CHANGE_ROLE, { userId: otherAdmin.identity.userId, role: 'VIEWER' });
      expect(onAdmin.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await ask(admin.identity, REMOVE, { userId: otherAdmin.identity.userId })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const promoted = (await answer(admin.identity, CHANGE_ROLE, { userId: viewer.identity.userId, role: 'MEMBER' })).changeMemberRole;
      expect(promoted).toEqual({ __typename: 'User', id: viewer.identity.userId, role: 'MEMBER' });
      expect((await answer(owner.identity, USER, { id: viewer.identity.userId })).user.role).toBe('MEMBER');
    });

    it('keeps exactly one OWNER: no one is made OWNER by a role change, and the OWNER is neither changed, removed nor leaves', async () => {
      const owner = await register('owner');
      const admin = await teammate(owner, Role.Admin, 'admin');
      const toOwner = (await answer(owner.identity, CHANGE_ROLE, { userId: admin.identity.userId, role: 'OWNER' })).changeMemberRole;
      expect(toOwner.problem).toBe('OWNER_ROLE_IS_TRANSFERRED');
      expect((await answer(admin.identity, CHANGE_ROLE, { userId: owner.identity.userId, role: 'VIEWER' })).changeMemberRole.problem).toBe(
        'OWNER_CANNOT_BE_CHANGED',
      );
      expect((await answer(admin.identity, REMOVE, { userId: owner.identity.userId })).removeMember.problem).toBe(
        'OWNER_CANNOT_BE_CHANGED',
      );
      expect((await answer(owner.identity, CHANGE_ROLE, { userId: owner.identity.userId, role: 'VIEWER' })).changeMemberRole.problem).toBe(
        'NOT_YOURSELF',
      );
      expect((await answer(owner.identity, LEAVE)).leaveTenant.problem).toBe('OWNER_MUST_TRANSFER_FIRST');
      const invitedAsOwner = (await answer(owner.identity, INVITE, { input: { email: `o-${randomUUID()}@example.com`, role: 'OWNER' } }))
        .inviteMember;
      expect(invitedAsOwner).toEqual({ __typename: 'InvalidInput', fields: [{ field: 'role' }] });

      // The database holds the rule even against a write that skips the service.
      const em = systemFork(subgraph.database);
      const adminMembership = await em.findOneOrFail(Membership, { user: admin.identity.userId, tenant: owner.identity.tenantId });
      await expect(em.nativeUpdate(Membership, { id: adminMembership.id }, { role: Role.Owner })).rejects.toThrow();
      const roles = ((await answer(owner.identity, MEMBERS)).me.tenant.users as { role: string }[]).map((user) => user.role);
      expect(roles).toEqual(['OWNER', 'ADMIN']);
    });

    it('transfers ownership: the new OWNER gains it, the old one becomes ADMIN and their sessions in the tenant end', async () => {
      const owner = await register('owner');
      const admin = await teammate(owner, Role.Admin, 'admin');
      const transferred = (await answer(owner.identity, TRANSFER, { userId: admin.identity.userId })).transferOwnership;
      expect(transferred).toEqual({
        __typename: 'TransferOwnershipPayload',
        previousOwner: { id: owner.identity.userId, role: 'ADMIN' },
        newOwner: { id: admin.identity.userId, role: 'OWNER' },
      });
      expect(await sessionRevoked(owner)).toBe(true);
      expect(await sessionRevoked(admin)).toBe(false);
      const again = await signedIn(await login(owner.email), owner.email);
      expect(again.identity).toMatchObject({ tenantId: owner.identity.tenantId, roles: [Role.Admin] });
      expect((await eventsOf('member.role.changed', owner.identity.tenantId)).map((event) => event.payload.role)).toEqual([
        'ADMIN',
        'OWNER',
      ]);
    });

    it('ends the sessions of a demoted or removed member in the tenant at once, and keeps them out on refresh', async () => {
      const owner = await register('owner');
      const demoted = await teammate(owner, Role.Admin, 'demoted');
      const promoted = await teammate(owner, Role.Viewer, 'promoted');
      const removed = await teammate(owner, Role.Member, 'removed');

      expect((await answer(owner.identity, CHANGE_ROLE, { userId: promoted.identity.userId, role: 'MEMBER' })).changeMemberRole.role).toBe(
        'MEMBER',
      );
      expect(await sessionRevoked(promoted)).toBe(false);
      const refreshed = (await answer({ kind: 'anonymous' }, REFRESH, { token: promoted.refreshToken })).refreshSession;
      expect(refreshed.user.role).toBe('MEMBER');

      expect((await answer(owner.identity, CHANGE_ROLE, { userId: demoted.identity.userId, role: 'VIEWER' })).changeMemberRole.role).toBe(
        'VIEWER',
      );
      expect(await sessionRevoked(demoted)).toBe(true);

      expect((await answer(owner.identity, REMOVE, { userId: removed.identity.userId })).removeMember).toEqual({
        __typename: 'RemoveMemberPayload',
        removedUserId: removed.identity.userId,
      });
      expect(await sessionRevoked(removed)).toBe(true);
      expect((await answer({ kind: 'anonymous' }, REFRESH, { token: removed.refreshToken })).refreshSession.problem).toBe('REVOKED');
      expect((await answer(owner.identity, USER, { id: removed.identity.userId })).user).toBeNull();
      expect(await login(removed.email)).toEqual({ __typename: 'NotAMember', tenantId: null });
      expect((await eventsOf('member.removed', owner.identity.tenantId)).map((event) => event.payload.userId)).toEqual([
        removed.identity.userId,
      ]);
    });

    it("withdraws a removed member's open invitations, and a demoted one's of a role above their new one", async () => {
      const owner = await register('owner');
      const removed = await teammate(owner, Role.Admin, 'leaving-admin');
      const demoted = await teammate(owner, Role.Admin, 'demoted-admin');
      const ownAddress = await invite(removed, `second-address-${randomUUID()}@example.com`, Role.Admin);
      const adminByDemoted = await invite(demoted, `admin-${randomUUID()}@example.com`, Role.Admin);
      const memberByDemoted = await invite(demoted, `member-${randomUUID()}@example.com`, Role.Member);

      await answer(owner.identity, REMOVE, { userId: removed.identity.userId });
      await answer(owner.identity, CHANGE_ROLE, { userId: demoted.identity.userId, role: 'MEMBER' });

      const account = { name: 'Second', password: PASSWORD };
      expect((await answer({ kind: 'anonymous' }, ACCEPT, { token: ownAddress.token, account })).acceptInvitation).toMatchObject({
        problem: 'REVOKED',
      });
      expect((await answer({ kind: 'anonymous' }, ACCEPT, { token: adminByDemoted.token, account })).acceptInvitation).toMatchObject({
        problem: 'REVOKED',
      });
      expect((await answer({ kind: 'anonymous' }, ACCEPT, { token: memberByDemoted.token, account })).acceptInvitation).toMatchObject({
        __typename: 'AuthSession',
        user: { role: 'MEMBER' },
      });
    });

    it('lets a member leave, ending their sessions there, while their other tenants stay theirs', async () => {
      const owner = await register('owner');
      const other = await register('other');
      const { token } = await invite(owner, other.email, Role.Member);
      const joined = await signedIn((await answer(other.identity, ACCEPT, { token })).acceptInvitation, other.email);
      expect((await answer(joined.identity, LEAVE)).leaveTenant).toEqual({
        __typename: 'LeaveTenantPayload',
        tenantId: owner.identity.tenantId,
      });
      expect(await sessionRevoked(joined)).toBe(true);
      expect(await sessionRevoked(other)).toBe(false);
      expect(((await answer(other.identity, MY_TENANTS)).myTenants as { role: string }[]).map((membership) => membership.role)).toEqual([
        'OWNER',
      ]);
    });

    it('answers AlreadyMember for an email of the tenant, and InvalidInput for a malformed one, inviting no one', async () => {
      const owner = await register('owner');
      const member = await teammate(owner, Role.Member);
      const again = (await answer(owner.identity, INVITE, { input: { email: member.email, role: 'VIEWER' } })).inviteMember;
      expect(again).toEqual({ __typename: 'AlreadyMember', email: member.email });
      const malformed = (await answer(owner.identity, INVITE, { input: { email: 'not-an-email', role: 'VIEWER' } })).inviteMember;
      expect(malformed).toEqual({ __typename: 'InvalidInput', fields: [{ field: 'email' }] });
      expect((await answer(owner.identity, INVITATIONS)).invitations).toEqual([]);
    });
  });
});
