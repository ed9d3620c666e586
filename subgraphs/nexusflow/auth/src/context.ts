import type { OutboxRelay, RevokedSessions, SubgraphContext } from '@nexusflow/kit';
import type { ApiKeys } from './domain/api-keys.ts';
import type { AuthService } from './domain/auth-service.ts';
import type { Mailer } from './domain/mailer.ts';
import type { Mfa } from './domain/mfa.ts';
import type { OidcSignInService } from './domain/oidc-sign-in.ts';
import type { PasswordLifecycle } from './domain/password-lifecycle.ts';
import type { SamlSso } from './domain/saml.ts';
import type { Sessions } from './domain/sessions.ts';
import type { Teams } from './domain/teams.ts';
import type { AuthLoaders } from './loaders.ts';

export interface AuthServices {
  auth: AuthService;
  apiKeys: ApiKeys;
  sessions: Sessions;
  revokedSessions: RevokedSessions;
  /** Publishes auth's events from its outbox. */
  relay: OutboxRelay;
  /** Sends auth's emails through the notifications service. */
  mailer: Mailer;
  /** Email verification, password reset and change. */
  passwords: PasswordLifecycle;
  teams: Teams;
  /** Two-factor authentication: enrollment, recovery codes and the second step of password sign-ins. */
  mfa: Mfa;
  /** Sign-in through Google, Microsoft and GitHub, and the identities it links. */
  oidc: OidcSignInService;
  /** SAML single sign-on per tenant: each tenant's IdP, and sign-ins through it. */
  saml: SamlSso;
}

export type AuthContext = SubgraphContext<AuthLoaders, AuthServices>;
