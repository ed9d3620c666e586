import type { InvitationResolvers } from '../__generated__/resolvers-types.ts';

export const Invitation: InvitationResolvers = {
  // Scoped to the caller's tenant, like the invitation: null once the inviter is no longer a member.
  invitedBy: (invitation, _args, { loaders }) => (invitation.invitedBy ? loaders.memberByUserId.load(invitation.invitedBy) : null),
};
