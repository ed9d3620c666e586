import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  forbidden,
  hashPassword,
  isUuid,
  recordEvent,
  requireRole,
  requireUser,
  Role,
  systemFork,
  type EntityManager,
  type Identity,
} from '@nexusflow/kit';
import { z } from 'zod';
import { Invitation } from '../entities/invitation.entity.ts';
import { Membership } from '../entities/membership.entity.ts';
import { Tenant } from '../entities/tenant.entity.ts';
import { User } from '../entities/user.entity.ts';
import type { AuthService, SignInResult } from './auth-service.ts';
import type { Mailer } from './mailer.ts';
import type { SessionClient, Sessions } from './sessions.ts';
import { fieldProblems, registrationSchema, type FieldProblem } from './validation.ts';

/** Roles are cumulative: a higher rank may do everything a lower one may. */
const RANK: Record<Role, number> = { [Role.Viewer]: 1, [Role.Member]: 2, [Role.Admin]: 3, [Role.Owner]: 4 };
const MANAGER_ROLES = [Role.Owner, Role.Admin] as const;

export interface TeamsSettings {
  /** Signs invitation tokens; the JWT secret, so that a leaked database cannot mint them. */
  secret: string;
  invitationTtlSeconds: number;
  /** Where the web client accepts invitations; the link is `<webAppUrl>/invitations/accept?token=…`. */
  webAppUrl: string;
  auth: AuthService;
  sessions: Sessions;
  /** Sends the invitation email once the invitation commits. */
  mailer: Pick<Mailer, 'enqueue' | 'wake'>;
  /** The members the tenant's plan allows (null: unlimited), from billing; unset, invitations are not limited. */
  seatsAllowed?: (caller: Extract<Identity, { kind: 'user' }>) => Promise<number | null>;
  now?: () => number;
}

export type MembershipChangeProblem =
  'OWNER_ROLE_IS_TRANSFERRED' | 'OWNER_CANNOT_BE_CHANGED' | 'NOT_YOURSELF' | 'OWNER_MUST_TRANSFER_FIRST';

export interface MembershipChangeRefused {
  __typename: 'MembershipChangeRefused';
  message: string;
  problem: MembershipChangeProblem;
}

export interface MemberNotFound {
  __typename: 'MemberNotFound';
  message: string;
  userId: string;
}

export type InvitationProblem = 'INVALID' | 'EXPIRED' | 'USED' | 'REVOKED';

export type InviteMemberResult =
  | Invitation
  | { __typename: 'InvalidInput'; message: string; fields: FieldProblem[] }
  | { __typename: 'AlreadyMember'; message: string; email: string }
  | { __typename: 'SeatLimitReached'; message: string; seats: number; taken: number };

export type AcceptInvitationResult =
  | SignInResult
  | { __typename: 'InvalidInvitation'; message: string; problem: InvitationProblem }
  | { __typename: 'InvitationForAnotherEmail'; message: string }
  | { __typename: 'SignInToAccept'; message: string; email: string }
  | { __typename: 'InvalidInput'; message: string; fields: FieldProblem[] };

export type ChangeMemberRoleResult = Membership | MemberNotFound | MembershipChangeRefused;
export type RemoveMemberResult = { __typename: 'RemoveMemberPayload'; removedUserId: string } | MemberNotFound | MembershipChangeRefused;
export type TransferOwnershipResult =
  { __typename: 'TransferOwnershipPayload'; previousOwner: Membership; newOwner: Membership } | MemberNotFound | MembershipChangeRefused;
export type LeaveTenantResult = { __typename: 'LeaveTenantPayload'; tenantId: string } | MembershipChangeRefused;
export type RevokeInvitationResult = Invitation | { __typename: 'InvitationNotFound'; message: string; id: string };

const refused = (problem: MembershipChangeProblem, message: string): MembershipChangeRefused => ({
  __typename: 'MembershipChangeRefused',
  message,
  problem,
});

const memberNotFound = (userId: string): MemberNotFound => ({ __typename: 'MemberNotFound', message: `No member ${userId}`, userId });

const invitationProblems: Record<InvitationProblem, string> = {
  INVALID: 'This invitation link is not valid',
  EXPIRED: 'This invitation has expired; ask for a new one',
  USED: 'This invitation was already accepted',
  REVOKED: 'This invitation was withdrawn',
};

const inviteSchema = z.object({
  email: registrationSchema.shape.email,
  role: z.enum([Role.Admin, Role.Member, Role.Viewer], { error: 'must be ADMIN, MEMBER or VIEWER; ownership is transferred' }),
});

const newAccountSchema = registrationSchema.pick({ name: true, password: true });

/**
 * Teams: invitations by email, members' roles, ownership and leaving. A tenant always has exactly one OWNER (a partial
 * unique index holds it under races); an ADMIN manages MEMBERs and VIEWERs, the OWNER manages everyone. A role taken
 * away (removal, demotion, transfer) ends the person's sessions in the tenant, so that tokens naming the old role stop
 * within seconds instead of at their expiry.
 */
export class Teams {
  private readonly now: () => number;

  constructor(private readonly settings: TeamsSettings) {
    this.now = settings.now ?? Date.now;
  }

  /** Every tenant the caller is a member of, with their role there, most recently active first. */
  async myMemberships(em: EntityManager, identity: Identity): Promise<Membership[]> {
    const caller = requireUser(identity);
    return systemFork(em).find(
      Membership,
      { user: caller.userId },
      { populate: ['user', 'tenant'], orderBy: { lastActiveAt: 'desc nulls last', createdAt: 'asc' }, limit: 200 },
    );
  }

  /** Open invitations of the caller's tenant, newest first. OWNER or ADMIN. */
  async invitations(em: EntityManager, identity: Identity): Promise<Invitation[]> {
    requireRole(identity, MANAGER_ROLES);
    return em.find(
      Invitation,
      { acceptedAt: null, revokedAt: null, expiresAt: { $gt: new Date(this.now()) } },
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit: 500 },
    );
  }

  /**
   * Invites `email` with `role` (at most the inviter's own). A newer invitation to the same email replaces the open
   * one, whose link stops working. The email with the link is queued in the same flush as the invitation.
   */
  async invite(em: EntityManager, identity: Identity, input: unknown): Promise<InviteMemberResult> {
    const caller = requireRole(identity, MANAGER_ROLES);
    const parsed = inviteSchema.safeParse(input);
    if (!parsed.success) return { __typename: 'InvalidInput', message: 'Some fields are invalid', fields: fieldProblems(parsed.error) };
    const { email, role } = parsed.data;
    if (RANK[role] > RANK[this.highestRole(caller.roles)]) throw forbidden(`Only an OWNER may invite an ${role}`);
    const system = systemFork(em);
    const existing = await system.findOne(User, { email });
    if (existing && (await em.count(Membership, { user: existing }))) {
      return { __typename: 'AlreadyMember', message: `${email} is already a member`, email };
    }
    const now = new Date(this.now());
    const seats = (await this.settings.seatsAllowed?.(caller)) ?? null;
    if (seats !== null) {
      // An open invitation holds a seat until it is accepted, withdrawn or expires; the one this replaces holds none.
      const [members, invited] = await Promise.all([
        em.count(Membership, {}),
        em.count(Invitation, { email: { $ne: email }, acceptedAt: null, revokedAt: null, expiresAt: { $gt: now } }),
      ]);
      const taken = members + invited;
      if (taken >= seats) {
        return {
          __typename: 'SeatLimitReached',
          message: `Your plan allows ${seats} members, and members and open invitations take ${taken} seats`,
          seats,
          taken,
        };
      }
    }
    await em.nativeUpdate(Invitation, { email, acceptedAt: null, revokedAt: null }, { revokedAt: now });
    const invitation = em.create(Invitation, {
      tenantId: caller.tenantId,
      email,
      role,
      invitedBy: caller.userId,
      expiresAt: new Date(now.getTime() + this.settings.invitationTtlSeconds * 1000),
      acceptedAt: null,
      revokedAt: null,
      createdAt: now,
    });
    const [tenant, inviter] = await Promise.all([
      em.findOneOrFail(Tenant, { id: caller.tenantId }),
      system.findOne(User, { id: caller.userId }),
    ]);
    this.settings.mailer.enqueue(
      em,
      {
        to: email,
        template: 'auth.member-invitation',
        variables: {
          tenantName: tenant.name,
          inviterName: inviter?.name ?? 'A teammate',
          role,
          link: `${this.settings.webAppUrl}/invitations/accept?token=${encodeURIComponent(this.tokenFor(invitation))}`,
          expiresInHours: String(Math.round(this.settings.invitationTtlSeconds / 3600)),
        },
      },
      invitation.expiresAt,
    );
    recordEvent(
      em,
      { type: 'member.invited', tenantId: caller.tenantId, payload: { invitationId: invitation.id, role, invitedBy: caller.userId } },
      now,
    );
    await em.flush();
    this.settings.auth.eventsRecorded();
    this.settings.mailer.wake();
    return invitation;
  }

  /** Withdraws an open invitation: its link stops working. OWNER or ADMIN. */
  async revokeInvitation(em: EntityManager, identity: Identity, id: string): Promise<RevokeInvitationResult> {
    requireRole(identity, MANAGER_ROLES);
    const invitation = isUuid(id) ? await em.findOne(Invitation, { id }) : null;
    if (!invitation) return { __typename: 'InvitationNotFound', message: `No invitation ${id}`, id };
    if (!invitation.acceptedAt) invitation.revokedAt ??= new Date(this.now());
    await em.flush();
    return invitation;
  }

  /**
   * Accepts an invitation and signs into its tenant. A signed-in caller must be the person invited; an anonymous one
   * creates their account with `account` (name and password), unless the email has one already: then they sign in
   * first. Each token works once, even when two acceptances race.
   */
  async accept(
    em: EntityManager,
    identity: Identity,
    token: string,
    account: { name?: string | null; password?: string | null } | null | undefined,
    client: SessionClient,
  ): Promise<AcceptInvitationResult> {
    const system = systemFork(em);
    const invitation = await this.invitationFor(system, token);
    if (typeof invitation === 'string')
      return { __typename: 'InvalidInvitation', message: invitationProblems[invitation], problem: invitation };
    let user: User | null;
    if (identity.kind === 'user') {
      user = await system.findOne(User, { id: identity.userId });
      if (!user || user.email !== invitation.email) {
        return { __typename: 'InvitationForAnotherEmail', message: 'This invitation was sent to another email address than yours' };
      }
    } else {
      user = await system.findOne(User, { email: invitation.email });
      if (user) {
        return {
          __typename: 'SignInToAccept',
          message: 'An account with this email exists: sign in, then accept',
          email: invitation.email,
        };
      }
      const parsed = newAccountSchema.safeParse({ name: account?.name ?? '', password: account?.password ?? '' });
      if (!parsed.success) return { __typename: 'InvalidInput', message: 'Some fields are invalid', fields: fieldProblems(parsed.error) };
      user = system.create(User, {
        email: invitation.email,
        name: parsed.data.name,
        passwordHash: await hashPassword(parsed.data.password),
        // The link came by email to this address: as good as a verification link.
        emailVerifiedAt: new Date(this.now()),
      });
    }
    const now = new Date(this.now());
    const claimed = await system.nativeUpdate(Invitation, { id: invitation.id, acceptedAt: null, revokedAt: null }, { acceptedAt: now });
    if (claimed === 0) return { __typename: 'InvalidInvitation', message: invitationProblems.USED, problem: 'USED' };
    if (!(await system.count(Membership, { user, tenant: invitation.tenantId }))) {
      system.create(Membership, { tenant: invitation.tenantId, user, role: invitation.role, lastActiveAt: null });
      recordEvent(system, {
        type: 'member.joined',
        tenantId: invitation.tenantId,
        payload: { userId: user.id, role: invitation.role, invitationId: invitation.id, method: 'invitation' },
      });
    }
    await system.flush();
    return this.settings.auth.signIn(system, user, { tenantId: invitation.tenantId }, client, 'invitation');
  }

  /** Gives a member another role (not OWNER: ownership is transferred). An ADMIN changes MEMBERs and VIEWERs only. */
  async changeRole(em: EntityManager, identity: Identity, userId: string, requested: `${Role}`): Promise<ChangeMemberRoleResult> {
    // The schema's enum and the kit's are the same four strings.
    const role = requested as Role;
    const caller = requireRole(identity, MANAGER_ROLES);
    if (role === Role.Owner) return refused('OWNER_ROLE_IS_TRANSFERRED', 'Use transferOwnership to make someone the OWNER');
    const target = await this.memberToManage(em, caller, userId);
    if (!(target instanceof Membership)) return target;
    if (RANK[role] > RANK[this.highestRole(caller.roles)]) throw forbidden(`Only an OWNER may make someone an ${role}`);
    const previous = target.role;
    if (previous === role) return target;
    target.role = role;
    recordEvent(em, {
      type: 'member.role.changed',
      tenantId: caller.tenantId,
      payload: { userId, previousRole: previous, role, changedBy: caller.userId },
    });
    await em.flush();
    await this.withdrawInvitationsBy(em, caller.tenantId, userId, role);
    if (RANK[role] < RANK[previous]) await this.settings.sessions.endMemberSessions(systemFork(em), userId, caller.tenantId);
    this.settings.auth.eventsRecorded();
    return target;
  }

  /** Removes a member (never the OWNER; an ADMIN removes MEMBERs and VIEWERs only); their sessions here end. */
  async remove(em: EntityManager, identity: Identity, userId: string): Promise<RemoveMemberResult> {
    const caller = requireRole(identity, MANAGER_ROLES);
    const target = await this.memberToManage(em, caller, userId);
    if (!(target instanceof Membership)) return target;
    em.remove(target);
    recordEvent(em, { type: 'member.removed', tenantId: caller.tenantId, payload: { userId, removedBy: caller.userId } });
    await em.flush();
    await this.withdrawInvitationsBy(em, caller.tenantId, userId);
    await this.settings.sessions.endMemberSessions(systemFork(em), userId, caller.tenantId);
    this.settings.auth.eventsRecorded();
    return { __typename: 'RemoveMemberPayload', removedUserId: userId };
  }

  /**
   * Makes another member the OWNER; the caller (the OWNER) becomes an ADMIN, and their sessions here end, since their
   * tokens name the OWNER role. One transaction, demotion first: the one-owner index never sees two.
   */
  async transferOwnership(em: EntityManager, identity: Identity, userId: string): Promise<TransferOwnershipResult> {
    const caller = requireRole(identity, [Role.Owner]);
    if (userId === caller.userId) return refused('NOT_YOURSELF', 'You are the OWNER already');
    const target = isUuid(userId) ? await em.findOne(Membership, { user: userId }, { populate: ['user'] }) : null;
    if (!target) return memberNotFound(userId);
    const own = await em.findOneOrFail(Membership, { user: caller.userId }, { populate: ['user'] });
    await em.transactional(async (tx) => {
      await tx.nativeUpdate(Membership, { id: own.id }, { role: Role.Admin });
      await tx.nativeUpdate(Membership, { id: target.id }, { role: Role.Owner });
      recordEvent(tx, {
        type: 'member.role.changed',
        tenantId: caller.tenantId,
        payload: { userId: caller.userId, previousRole: Role.Owner, role: Role.Admin, changedBy: caller.userId },
      });
      recordEvent(tx, {
        type: 'member.role.changed',
        tenantId: caller.tenantId,
        payload: { userId, previousRole: target.role, role: Role.Owner, changedBy: caller.userId },
      });
    });
    own.role = Role.Admin;
    target.role = Role.Owner;
    await this.settings.sessions.endMemberSessions(systemFork(em), caller.userId, caller.tenantId);
    this.settings.auth.eventsRecorded();
    return { __typename: 'TransferOwnershipPayload', previousOwner: own, newOwner: target };
  }

  /** Leaves the caller's tenant (the OWNER transfers ownership first); the caller's sessions there end. */
  async leave(em: EntityManager, identity: Identity): Promise<LeaveTenantResult> {
    const caller = requireUser(identity);
    const own = await em.findOne(Membership, { user: caller.userId });
    if (!own) return { __typename: 'LeaveTenantPayload', tenantId: caller.tenantId };
    if (own.role === Role.Owner) return refused('OWNER_MUST_TRANSFER_FIRST', 'Transfer ownership to another member before leaving');
    em.remove(own);
    recordEvent(em, { type: 'member.left', tenantId: caller.tenantId, payload: { userId: caller.userId } });
    await em.flush();
    await this.withdrawInvitationsBy(em, caller.tenantId, caller.userId);
    await this.settings.sessions.endMemberSessions(systemFork(em), caller.userId, caller.tenantId);
    this.settings.auth.eventsRecorded();
    return { __typename: 'LeaveTenantPayload', tenantId: caller.tenantId };
  }

  /**
   * Withdraws the open invitations a member sent that they could no longer send: all of them once they are gone, those
   * of a role above theirs once demoted to `role`. Otherwise a removed ADMIN's invitation of a second address of their
   * own as ADMIN brought them back within its week.
   */
  private async withdrawInvitationsBy(em: EntityManager, tenantId: string, userId: string, role?: Role): Promise<void> {
    const above = role ? Object.values(Role).filter((each) => RANK[each] > RANK[role]) : Object.values(Role);
    await systemFork(em).nativeUpdate(
      Invitation,
      { tenantId, invitedBy: userId, acceptedAt: null, revokedAt: null, role: { $in: above } },
      { revokedAt: new Date(this.now()) },
    );
  }

  /** The signed token of an invitation: its id and an HMAC binding it to the email it was sent to. */
  tokenFor(invitation: Invitation): string {
    return `${invitation.id}.${this.signature(invitation)}`;
  }

  private signature(invitation: Invitation): string {
    return createHmac('sha256', this.settings.secret).update(`invitation:${invitation.id}:${invitation.email}`).digest('base64url');
  }

  private async invitationFor(system: EntityManager, token: string): Promise<Invitation | InvitationProblem> {
    const [id, signature] = token.split('.');
    if (!id || !signature || !isUuid(id)) return 'INVALID';
    const invitation = await system.findOne(Invitation, { id });
    if (!invitation) return 'INVALID';
    const expected = Buffer.from(this.signature(invitation));
    const presented = Buffer.from(signature);
    if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) return 'INVALID';
    if (invitation.acceptedAt) return 'USED';
    if (invitation.revokedAt) return 'REVOKED';
    if (invitation.expiresAt.getTime() <= this.now()) return 'EXPIRED';
    return invitation;
  }

  /** The member the caller may manage: not themself, not the OWNER, and (for an ADMIN) no other ADMIN. */
  private async memberToManage(
    em: EntityManager,
    caller: { userId: string; roles: Role[] },
    userId: string,
  ): Promise<Membership | MemberNotFound | MembershipChangeRefused> {
    if (userId === caller.userId) return refused('NOT_YOURSELF', 'You cannot change your own membership; use leaveTenant');
    const target = isUuid(userId) ? await em.findOne(Membership, { user: userId }, { populate: ['user'] }) : null;
    if (!target) return memberNotFound(userId);
    if (target.role === Role.Owner) return refused('OWNER_CANNOT_BE_CHANGED', 'The OWNER transfers ownership before their role changes');
    if (RANK[target.role] >= RANK[this.highestRole(caller.roles)]) throw forbidden(`Only the OWNER may manage an ${target.role}`);
    return target;
  }

  private highestRole(roles: readonly Role[]): Role {
    return roles.reduce((highest, role) => (RANK[role] > RANK[highest] ? role : highest), Role.Viewer);
  }
}
