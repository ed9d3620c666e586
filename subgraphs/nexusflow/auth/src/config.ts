import { loadSubgraphConfig, secretOrDevelopmentDefault, sharedSecretSchema, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';
import type { ThrottlingSettings } from './domain/auth-service.ts';
import { oidcEnvShape, oidcSettings } from './domain/oidc-settings.ts';
import type { BackoffPolicy, QuotaPolicy } from './domain/throttle.ts';

const count = () => z.coerce.number().int().min(0);
const seconds = () => z.coerce.number().int().min(1);

const authEnvSchema = z
  .object({
    ...subgraphEnv(serviceDefaults('nexusflow', 'auth')),
    JWT_SECRET: sharedSecretSchema,
    /** What the authenticator secrets of two-factor authentication are encrypted under at rest; changing it turns every enrollment unreadable. */
    MFA_ENCRYPTION_KEY: sharedSecretSchema,
    /** The name authenticator apps show next to the account. */
    MFA_ISSUER: z.string().min(1).default('NexusFlow'),
    /** How long a password sign-in of a person with MFA on waits for the code. */
    MFA_CHALLENGE_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(300),
    /** Wrong codes per person (any challenge, disabling, recovery codes) before each further attempt waits, like LOGIN_DELAY_*. */
    MFA_FAILURES_PER_USER: count().min(1).default(5),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
    REFRESH_TOKEN_TTL_SECONDS: z.coerce
      .number()
      .int()
      .min(60)
      .default(30 * 86_400),
    /** Failed sign-ins to one email (registered or not) before each further attempt waits. */
    LOGIN_FAILURES_PER_ACCOUNT: count().min(1).default(5),
    /** Failed sign-ins from one client address (an IPv6 /64) before each further attempt waits; 0 turns the limit off. */
    LOGIN_FAILURES_PER_ADDRESS: count().default(20),
    /** The first wait once the failures are used up; it doubles with every further failure. */
    LOGIN_DELAY_FIRST_SECONDS: seconds().default(1),
    LOGIN_DELAY_MAX_SECONDS: seconds().default(15 * 60),
    /** Failures older than this stop counting. */
    LOGIN_FAILURE_WINDOW_SECONDS: seconds().default(15 * 60),
    /** Registrations one client address (an IPv6 /64) may attempt per window; 0 turns the limit off. */
    REGISTRATIONS_PER_ADDRESS: count().default(10),
    REGISTRATION_WINDOW_SECONDS: seconds().default(60 * 60),
    /**
     * Where the SAML service provider's URLs start: each tenant's entity id is `<SAML_SP_BASE_URL>/saml/<tenant id>` and
     * its assertion consumer service `…/acs`, the page that passes what the IdP posts there on to completeSamlSignIn.
     */
    SAML_SP_BASE_URL: z.url().default('http://127.0.0.1:8000'),
    ...oidcEnvShape,
    /** How long an invitation's link works. */
    INVITATION_TTL_SECONDS: seconds().default(7 * 24 * 60 * 60),
    /** Where links in emails point: `<APP_URL>/verify-email?token=…` and `<APP_URL>/reset-password?token=…`. */
    APP_URL: z.url().default('http://localhost:8000'),
    EMAIL_VERIFICATION_TTL_SECONDS: seconds().default(24 * 60 * 60),
    PASSWORD_RESET_TTL_SECONDS: seconds().default(60 * 60),
    /** Reset requests per email, registered or not, and per client address per window; 0 turns the address limit off. */
    PASSWORD_RESETS_PER_ACCOUNT: count().min(1).default(3),
    PASSWORD_RESETS_PER_ADDRESS: count().default(20),
    /** Verification emails one user may ask for again per window. */
    VERIFICATION_EMAILS_PER_USER: count().min(1).default(5),
    ACCOUNT_EMAIL_WINDOW_SECONDS: seconds().default(60 * 60),
    /** How often the pending emails are looked at besides the wake-up after each request, and the first retry's wait. */
    PENDING_EMAIL_POLL_INTERVAL_MS: z.coerce.number().int().min(10).default(5000),
    PENDING_EMAIL_BACKOFF_MS: z.coerce.number().int().min(1).default(1000),
  })
  .refine((env) => env.LOGIN_DELAY_MAX_SECONDS >= env.LOGIN_DELAY_FIRST_SECONDS, {
    path: ['LOGIN_DELAY_MAX_SECONDS'],
    message: 'must be at least LOGIN_DELAY_FIRST_SECONDS',
  })
  // A wait longer than the window would be cut short when the failures it follows stop counting.
  .refine((env) => env.LOGIN_DELAY_MAX_SECONDS <= env.LOGIN_FAILURE_WINDOW_SECONDS, {
    path: ['LOGIN_DELAY_MAX_SECONDS'],
    message: 'must be at most LOGIN_FAILURE_WINDOW_SECONDS',
  });

export function loadAuthConfig(env?: Environment) {
  return loadSubgraphConfig(
    'auth',
    authEnvSchema,
    env,
    (parsed) => {
      const loginBackoff = (allowance: number): BackoffPolicy => ({
        kind: 'backoff',
        allowance,
        firstDelayMs: parsed.LOGIN_DELAY_FIRST_SECONDS * 1000,
        maxDelayMs: parsed.LOGIN_DELAY_MAX_SECONDS * 1000,
        windowMs: parsed.LOGIN_FAILURE_WINDOW_SECONDS * 1000,
      });
      const accountEmailQuota = (allowance: number): QuotaPolicy => ({
        kind: 'quota',
        allowance,
        windowMs: parsed.ACCOUNT_EMAIL_WINDOW_SECONDS * 1000,
      });
      const throttling: ThrottlingSettings = {
        loginsPerAccount: loginBackoff(parsed.LOGIN_FAILURES_PER_ACCOUNT),
        loginsPerAddress: parsed.LOGIN_FAILURES_PER_ADDRESS > 0 ? loginBackoff(parsed.LOGIN_FAILURES_PER_ADDRESS) : undefined,
        registrationsPerAddress:
          parsed.REGISTRATIONS_PER_ADDRESS > 0
            ? { kind: 'quota', allowance: parsed.REGISTRATIONS_PER_ADDRESS, windowMs: parsed.REGISTRATION_WINDOW_SECONDS * 1000 }
            : undefined,
      };
      return {
        jwtSecret: secretOrDevelopmentDefault(parsed.JWT_SECRET),
        accessTokenTtlSeconds: parsed.ACCESS_TOKEN_TTL_SECONDS,
        refreshTokenTtlSeconds: parsed.REFRESH_TOKEN_TTL_SECONDS,
        oidc: oidcSettings(parsed),
        throttling,
        saml: { spBaseUrl: parsed.SAML_SP_BASE_URL.replace(/\/+$/, '') },
        invitationTtlSeconds: parsed.INVITATION_TTL_SECONDS,
        mfa: {
          encryptionKey: secretOrDevelopmentDefault(parsed.MFA_ENCRYPTION_KEY),
          issuer: parsed.MFA_ISSUER,
          challengeTtlSeconds: parsed.MFA_CHALLENGE_TTL_SECONDS,
          failuresPerUser: loginBackoff(parsed.MFA_FAILURES_PER_USER),
        },
        notificationsUrl: parsed.NOTIFICATIONS_URL,
        /** The billing subgraph, asked for the seats of a tenant's plan before inviteMember. */
        billingUrl: parsed.BILLING_URL,
        passwordLifecycle: {
          appUrl: parsed.APP_URL,
          emailVerificationTtlSeconds: parsed.EMAIL_VERIFICATION_TTL_SECONDS,
          passwordResetTtlSeconds: parsed.PASSWORD_RESET_TTL_SECONDS,
          passwordResetsPerAccount: accountEmailQuota(parsed.PASSWORD_RESETS_PER_ACCOUNT),
          passwordResetsPerAddress:
            parsed.PASSWORD_RESETS_PER_ADDRESS > 0 ? accountEmailQuota(parsed.PASSWORD_RESETS_PER_ADDRESS) : undefined,
          verificationEmailsPerUser: accountEmailQuota(parsed.VERIFICATION_EMAILS_PER_USER),
          pendingEmailPollIntervalMs: parsed.PENDING_EMAIL_POLL_INTERVAL_MS,
          pendingEmailBackoffMs: parsed.PENDING_EMAIL_BACKOFF_MS,
        },
      };
    },
    { requiredInProduction: ['JWT_SECRET', 'MFA_ENCRYPTION_KEY'] },
  );
}

export type AuthConfig = ReturnType<typeof loadAuthConfig>;
