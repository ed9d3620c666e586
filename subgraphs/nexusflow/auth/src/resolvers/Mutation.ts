import { systemFork } from '@nexusflow/kit';
import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

// Signing in comes before any tenant scope: accounts are found by email or refresh token across every tenant.
export const Mutation: MutationResolvers = {
  // Links are opened by people not signed in (or signed in to another tenant): the token names the account.
  verifyEmail: (_parent, { token }, { em, services }) => services.passwords.verifyEmail(systemFork(em), token),
  resendVerificationEmail: (_parent, _args, { em, identity, services }) =>
    services.passwords.resendVerificationEmail(systemFork(em), identity),
  requestPasswordReset: (_parent, { email }, { em, services, clientAddress }) =>
    services.passwords.requestPasswordReset(systemFork(em), email, clientAddress),
  resetPassword: (_parent, { token, newPassword }, { em, services }) =>
    services.passwords.resetPassword(systemFork(em), token, newPassword),
  // A person's password and sessions span their tenants.
  changePassword: (_parent, { currentPassword, newPassword }, { em, identity, services, clientAddress }) =>
    services.passwords.changePassword(systemFork(em), identity, currentPassword, newPassword, clientAddress),
  register: async (_parent, { input }, { em, services, clientAddress, userAgent }) => {
    const registered = await services.auth.register(systemFork(em), input, clientAddress, userAgent);
    // Committed with the user: its verification email goes out now rather than at the mailer's next poll.
    services.mailer.wake();
    return registered;
  },
  login: (_parent, { input }, { em, services, clientAddress, userAgent }) =>
    services.auth.login(systemFork(em), input, clientAddress, userAgent),
  // The second step of a password sign-in: the challenge token, not a tenant scope, says whose sign-in it is.
  completeMfaSignIn: (_parent, { challengeToken, code }, { em, services, clientAddress, userAgent }) => {
    const system = systemFork(em);
    return services.mfa.completeSignIn(system, challengeToken, code, (user, tenantId) =>
      services.auth.signIn(system, user, { tenantId }, { clientAddress, userAgent }, 'mfa'),
    );
  },
  // The second factor is the person's, across their tenants: not for a session a tenant's own identity provider started.
  beginMfaEnrollment: async (_parent, _args, { em, identity, services }) => {
    await services.auth.requireAccountWideSession(em, identity);
    return services.mfa.beginEnrollment(em, identity);
  },
  confirmMfaEnrollment: async (_parent, { code }, { em, identity, services }) => {
    await services.auth.requireAccountWideSession(em, identity);
    return services.mfa.confirmEnrollment(em, identity, code);
  },
  disableMfa: async (_parent, { code }, { em, identity, services }) => {
    await services.auth.requireAccountWideSession(em, identity);
    return services.mfa.disable(em, identity, code);
  },
  regenerateRecoveryCodes: async (_parent, { code }, { em, identity, services }) => {
    await services.auth.requireAccountWideSession(em, identity);
    return services.mfa.regenerateRecoveryCodes(em, identity, code);
  },
  switchTenant: (_parent, { tenantId }, { em, identity, services, clientAddress, userAgent }) =>
    services.auth.switchTenant(em, identity, tenantId, { clientAddress, userAgent }),
  inviteMember: (_parent, { input }, { em, identity, services }) => services.teams.invite(em, identity, input),
  revokeInvitation: (_parent, { id }, { em, identity, services }) => services.teams.revokeInvitation(em, identity, id),
  // Accepting may come before any tenant of the caller's: the token names the tenant.
  acceptInvitation: (_parent, { token, account }, { em, identity, services, clientAddress, userAgent }) =>
    services.teams.accept(em, identity, token, account, { clientAddress, userAgent }),
  changeMemberRole: (_parent, { userId, role }, { em, identity, services }) => services.teams.changeRole(em, identity, userId, role),
  removeMember: (_parent, { userId }, { em, identity, services }) => services.teams.remove(em, identity, userId),
  transferOwnership: (_parent, { userId }, { em, identity, services }) => services.teams.transferOwnership(em, identity, userId),
  leaveTenant: (_parent, _args, { em, identity, services }) => services.teams.leave(em, identity),
  refreshSession: (_parent, { refreshToken }, { em, services, clientAddress, userAgent }) =>
    services.auth.refresh(systemFork(em), refreshToken, { clientAddress, userAgent }),
  logout: async (_parent, { refreshToken }, { em, services }) => ({ loggedOut: await services.auth.logout(systemFork(em), refreshToken) }),
  startOidcSignIn: (_parent, { provider, redirectUri }, { em, services }) => services.oidc.start(systemFork(em), provider, redirectUri),
  completeOidcSignIn: (_parent, callback, { em, services, clientAddress, userAgent }) =>
    services.oidc.complete(systemFork(em), callback, { clientAddress, userAgent }),
  // Linked identities belong to the person, whichever tenant they are working in.
  unlinkIdentity: async (_parent, { id }, { em, identity, services }) => {
    await services.auth.requireAccountWideSession(em, identity);
    return services.oidc.unlink(systemFork(em), identity, id);
  },
  configureSamlConnection: (_parent, { input }, { em, identity, services }) => services.saml.configure(em, identity, input),
  removeSamlConnection: async (_parent, _args, { em, identity, services }) => ({ removed: await services.saml.remove(em, identity) }),
  // Anonymous: the tenant slug, and then the signed response, say which tenant a SAML sign-in is for.
  startSamlSignIn: (_parent, { tenantSlug, relayState }, { em, services }) =>
    services.saml.startSignIn(systemFork(em), tenantSlug, relayState),
  completeSamlSignIn: (_parent, { samlResponse }, { em, services, clientAddress, userAgent }) =>
    services.saml.completeSignIn(systemFork(em), samlResponse, { clientAddress, userAgent }),
  createApiKey: (_parent, { input }, { em, identity, services }) => services.apiKeys.create(em, identity, input),
  revokeApiKey: (_parent, { id }, { em, identity, services }) => services.apiKeys.revoke(em, identity, id),
  // The gateway asks before it knows the caller's tenant; the field is not in the API, and only signed calls reach a subgraph.
  authenticateApiKey: (_parent, { secretHash }, { em, services }) => services.apiKeys.authenticate(systemFork(em), secretHash),
  revokeSession: (_parent, { id }, { em, identity, services }) => services.sessions.revoke(em, identity, id),
  revokeAllSessions: async (_parent, { includeCurrent }, { em, identity, services }) => ({
    revokedCount: await services.sessions.revokeAll(em, identity, includeCurrent),
  }),
};
