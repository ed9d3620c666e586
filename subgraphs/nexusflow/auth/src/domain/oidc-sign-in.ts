import { createHash, createHmac } from 'node:crypto';
import { clientError, ErrorCode, isUuid, recordEvent, requireUser, type Identity, type Logger } from '@nexusflow/kit';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import * as oidc from 'openid-client';
import { LinkedIdentity } from '../entities/linked-identity.entity.ts';
import { OidcSignIn } from '../entities/oidc-sign-in.entity.ts';
import { User } from '../entities/user.entity.ts';
import type { AuthService, SignInResult } from './auth-service.ts';
import { IdentityProviderError, type ExternalProfile, type IdentityProvider, type IdentityProviderName } from './identity-providers.ts';
import type { SessionClient } from './sessions.ts';

export type StartOidcSignInResult =
  | { __typename: 'OidcSignInStart'; authorizationUrl: string; state: string; expiresAt: Date }
  | { __typename: 'ProviderNotConfigured'; message: string; provider: IdentityProviderName }
  | { __typename: 'RedirectUriNotAllowed'; message: string; redirectUri: string };

export type OidcSignInFailure = 'INVALID_STATE' | 'EXPIRED' | 'PROVIDER_ERROR' | 'INVALID_ID_TOKEN' | 'EMAIL_NOT_VERIFIED';

export type OidcSignInResult = SignInResult | { __typename: 'OidcSignInFailed'; message: string; reason: OidcSignInFailure };

export type UnlinkIdentityResult =
  | LinkedIdentity
  | { __typename: 'LinkedIdentityNotFound'; message: string; id: string }
  | { __typename: 'LastSignInMethod'; message: string };

const failureMessages: Record<OidcSignInFailure, string> = {
  INVALID_STATE: 'This sign-in is unknown, was already completed, or was started for another redirect URI; start again',
  EXPIRED: 'This sign-in took too long; start again',
  PROVIDER_ERROR: 'The identity provider refused or failed the sign-in',
  INVALID_ID_TOKEN: 'The identity provider sent an ID token that does not check out',
  EMAIL_NOT_VERIFIED: 'The identity provider does not vouch for an email address of this account',
};

const failed = (reason: OidcSignInFailure) => ({ __typename: 'OidcSignInFailed', message: failureMessages[reason], reason }) as const;

/** States are 256 random bits, so a fast hash is enough to make a stolen table useless. */
const hashState = (state: string) => createHash('sha256').update(state).digest('base64url');

export interface OidcSignInSettings {
  /** The only redirect URIs accepted, compared exactly. */
  redirectUris: string[];
  signInTtlSeconds: number;
  providers: ReadonlyMap<IdentityProviderName, IdentityProvider>;
  /** The auth subgraph's own secret, from which the key deriving each sign-in's PKCE verifier and nonce is made. */
  secret: string;
  auth: AuthService;
  /** Where a provider's refusals go, for operators: a wrong client secret looks like any PROVIDER_ERROR to people. */
  logger: Logger;
  now?: () => number;
}

/**
 * Sign-in through Google, Microsoft and GitHub. A person is found by the identity linked to their provider account
 * (provider and subject), else by an email the provider vouches for, which links that identity; a new email becomes a
 * new account. An email the provider does not vouch for never reaches an account.
 */
export class OidcSignInService {
  private readonly now: () => number;
  private readonly derivationKey: Buffer;

  constructor(private readonly settings: OidcSignInSettings) {
    this.now = settings.now ?? Date.now;
    this.derivationKey = createHmac('sha256', settings.secret).update('nexusflow oidc sign-in').digest();
  }

  /**
   * Hands out the provider's authorization URL for a new sign-in. Only the state's hash is kept: the PKCE verifier and
   * the nonce are derived from the state, so that neither a stolen table nor the client ever holds them.
   */
  async start(em: EntityManager, provider: IdentityProviderName, redirectUri: string): Promise<StartOidcSignInResult> {
    const identityProvider = this.settings.providers.get(provider);
    if (!identityProvider) {
      return { __typename: 'ProviderNotConfigured', message: `Sign-in with ${provider} is not configured`, provider };
    }
    if (!this.settings.redirectUris.includes(redirectUri)) {
      return { __typename: 'RedirectUriNotAllowed', message: 'This redirect URI is not on the allow-list', redirectUri };
    }
    const state = oidc.randomState();
    let authorizationUrl: URL;
    try {
      authorizationUrl = await identityProvider.authorizationUrl({ redirectUri, state, ...this.secretsOf(state) });
    } catch (error) {
      if (error instanceof IdentityProviderError) {
        this.logRefusal(provider, error);
        throw clientError(ErrorCode.ServiceUnavailable, `Sign-in with ${provider} is unavailable; try again later`);
      }
      throw error;
    }
    const now = this.now();
    const expiresAt = new Date(now + this.settings.signInTtlSeconds * 1000);
    // Expired sign-ins are kept one more period, so that a late completion is told EXPIRED rather than unknown.
    await em.nativeDelete(OidcSignIn, { expiresAt: { $lt: new Date(now - this.settings.signInTtlSeconds * 1000) } });
    em.create(OidcSignIn, { provider, stateHash: hashState(state), redirectUri, expiresAt, usedAt: null });
    await em.flush();
    return { __typename: 'OidcSignInStart', authorizationUrl: authorizationUrl.href, state, expiresAt };
  }

  /**
   * Completes a sign-in with what the provider sent back to `redirectUri`. The state works once, before its expiry,
   * from the redirect URI it was started for. `em` is a system unit of work.
   */
  async complete(
    em: EntityManager,
    callback: { state: string; code: string; redirectUri: string },
    client: SessionClient,
  ): Promise<OidcSignInResult> {
    const signIn = await em.findOne(OidcSignIn, { stateHash: hashState(callback.state) });
    if (!signIn) return failed('INVALID_STATE');
    const now = new Date(this.now());
    // The conditional update makes two completions with one state resolve to one winner.
    const claimed = await em.nativeUpdate(OidcSignIn, { id: signIn.id, usedAt: null }, { usedAt: now });
    if (claimed === 0) return failed('INVALID_STATE');
    if (signIn.expiresAt <= now) return failed('EXPIRED');
    if (signIn.redirectUri !== callback.redirectUri) return failed('INVALID_STATE');
    const provider = this.settings.providers.get(signIn.provider as IdentityProviderName);
    if (!provider) return failed('PROVIDER_ERROR');

    let profile: ExternalProfile;
    try {
      profile = await provider.profile({ ...callback, ...this.secretsOf(callback.state) });
    } catch (error) {
      if (error instanceof IdentityProviderError) {
        this.logRefusal(provider.name, error);
        return failed(error.reason);
      }
      throw error;
    }
    return this.signInAs(em, provider.name, profile, client);
  }

  /** The identities linked to the caller, oldest first. */
  async linkedIdentities(em: EntityManager, identity: Identity): Promise<LinkedIdentity[]> {
    const caller = requireUser(identity);
    return em.find(LinkedIdentity, { user: caller.userId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  }

  /** Unlinks one of the caller's identities, unless it is their only way to sign in (no password, no other identity). */
  async unlink(em: EntityManager, identity: Identity, id: string): Promise<UnlinkIdentityResult> {
    const caller = requireUser(identity);
    const linked = isUuid(id) ? await em.findOne(LinkedIdentity, { id, user: caller.userId }) : null;
    if (!linked) return { __typename: 'LinkedIdentityNotFound', message: `No linked identity ${id}`, id };
    const user = await em.findOneOrFail(User, { id: caller.userId }, { populate: ['passwordHash'] });
    const identities = await em.count(LinkedIdentity, { user: caller.userId });
    if (user.passwordHash === null && identities === 1) {
      return { __typename: 'LastSignInMethod', message: 'This is your only way to sign in; set a password or link another account first' };
    }
    em.remove(linked);
    recordEvent(em, {
      type: 'identity.unlinked',
      tenantId: caller.tenantId,
      payload: { userId: caller.userId, identityId: linked.id, provider: linked.provider },
    });
    await em.flush();
    this.settings.auth.eventsRecorded();
    return linked;
  }

  private async signInAs(em: EntityManager, provider: IdentityProviderName, profile: ExternalProfile, client: SessionClient) {
    const now = new Date(this.now());
    const linked = await em.findOne(LinkedIdentity, { provider, subject: profile.subject }, { populate: ['user'] });
    if (linked) {
      linked.lastUsedAt = now;
      if (profile.email && profile.emailVerified) linked.email = profile.email;
      return this.settings.auth.signIn(em, linked.user.getEntity(), {}, client, 'oidc');
    }
    if (!profile.email || !profile.emailVerified) return failed('EMAIL_NOT_VERIFIED');

    const email = profile.email.trim().toLowerCase();
    const link = (user: User) => {
      em.create(LinkedIdentity, { user, provider, subject: profile.subject, email, lastUsedAt: now });
      // The provider vouched that this person controls the email: as good as the link of a verification email.
      user.emailVerifiedAt ??= now;
      recordEvent(em, { type: 'identity.linked', payload: { userId: user.id, provider } }, now);
    };
    const existing = await em.findOne(User, { email });
    if (existing) {
      await this.settings.auth.claimUnverifiedAccount(em, existing);
      // Linked in the flush that starts the session: both happen, or neither.
      link(existing);
      return this.settings.auth.signIn(em, existing, {}, client, 'oidc');
    }
    const result = await this.settings.auth.signInExternal(em, { email, name: profile.name }, {}, client, 'oidc');
    link(await em.findOneOrFail(User, { email }));
    try {
      await em.flush();
      this.settings.auth.eventsRecorded();
    } catch (error) {
      // Two first sign-ins of one provider account at once: the other one linked it, and this session stands.
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
    }
    return result;
  }

  /** The library's code and message only: what it wraps may hold the ID token's claims, emails among them. */
  private logRefusal(provider: IdentityProviderName, error: IdentityProviderError): void {
    const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
    this.settings.logger.warn({ provider, reason: error.reason, code: cause?.code, cause: cause?.message }, error.message);
  }

  /** The PKCE verifier (43 characters, as RFC 7636 asks) and the nonce of the sign-in whose state this is. */
  private secretsOf(state: string): { codeVerifier: string; nonce: string } {
    const derive = (purpose: string) => createHmac('sha256', this.derivationKey).update(`${purpose}:${state}`).digest('base64url');
    return { codeVerifier: derive('pkce-verifier'), nonce: derive('nonce') };
  }
}
