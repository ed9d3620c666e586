import {
  callSubgraph,
  createRevokedSessions,
  defineSubgraph,
  instanceQueue,
  OutboxEvent,
  OutboxRelay,
  systemFork,
  TenantAnswerCache,
  type SubgraphRuntime,
} from '@nexusflow/kit';
import { AuthSeatLimitDocument } from './__generated__/billing-operations.ts';
import { loadAuthConfig, type AuthConfig } from './config.ts';
import { ApiKeys } from './domain/api-keys.ts';
import { AuthService } from './domain/auth-service.ts';
import { Mailer, type EmailComposer } from './domain/mailer.ts';
import { Mfa } from './domain/mfa.ts';
import { configuredProviders } from './domain/identity-providers.ts';
import { OidcSignInService } from './domain/oidc-sign-in.ts';
import { PasswordLifecycle } from './domain/password-lifecycle.ts';
import { SamlSso } from './domain/saml.ts';
import { Sessions } from './domain/sessions.ts';
import { Teams } from './domain/teams.ts';
import { AccountToken } from './entities/account-token.entity.ts';
import { ApiKey } from './entities/api-key.entity.ts';
import { Invitation } from './entities/invitation.entity.ts';
import { LinkedIdentity } from './entities/linked-identity.entity.ts';
import { Membership } from './entities/membership.entity.ts';
import { MfaChallenge } from './entities/mfa-challenge.entity.ts';
import { MfaEnrollment } from './entities/mfa-enrollment.entity.ts';
import { MfaRecoveryCode } from './entities/mfa-recovery-code.entity.ts';
import { OidcSignIn } from './entities/oidc-sign-in.entity.ts';
import { PendingEmail } from './entities/pending-email.entity.ts';
import { RefreshToken } from './entities/refresh-token.entity.ts';
import { SamlConnection } from './entities/saml-connection.entity.ts';
import { SamlRequest } from './entities/saml-request.entity.ts';
import { Session } from './entities/session.entity.ts';
import { Tenant } from './entities/tenant.entity.ts';
import { ThrottleCounter } from './entities/throttle-counter.entity.ts';
import { UsedSamlAssertion } from './entities/used-saml-assertion.entity.ts';
import { User } from './entities/user.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

/** Throttle counters past their window are deleted this often; until then they are only overwritten. */
const THROTTLE_PRUNE_INTERVAL_MS = 10 * 60_000;

/** Published by the billing service whenever a tenant's plan or status changes: its seats may have too. */
const SUBSCRIPTION_CHANGED = 'billing.subscription.changed';

/** Every table auth owns, for the ORM and for the migrations' check that they build exactly these. */
export const entities = [
  Tenant,
  User,
  Membership,
  RefreshToken,
  ThrottleCounter,
  ApiKey,
  Session,
  Invitation,
  PendingEmail,
  OutboxEvent,
  AccountToken,
  MfaEnrollment,
  MfaRecoveryCode,
  MfaChallenge,
  LinkedIdentity,
  OidcSignIn,
  SamlConnection,
  SamlRequest,
  UsedSamlAssertion,
];

export const subgraph = defineSubgraph({
  name: 'auth',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAuthConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: (runtime: SubgraphRuntime, config: AuthConfig) => {
    // Redis when REDIS_URL is set, where every gateway reads it; otherwise this process's memory, which gateways
    // reach through the sessionRevoked query.
    const revokedSessions = createRevokedSessions(runtime.config.redisUrl, runtime.logger, {
      prefix: `${runtime.config.redisNamespace}:`,
      now: runtime.clock,
    });
    const sessions = new Sessions(revokedSessions, config.accessTokenTtlSeconds, runtime.clock);
    // Auth's events (sign-ins, members, keys, sessions) for the audit and analytics services.
    const relay = new OutboxRelay(runtime.database, runtime.eventBus, runtime.logger);
    // Filled once the password lifecycle exists: it writes the emails it asks the mailer for when they are first sent.
    const composers: Record<string, EmailComposer> = {};
    const mailer = new Mailer({
      database: runtime.database,
      notificationsUrl: config.notificationsUrl,
      internalSecret: runtime.config.internalSecret,
      sealingSecret: config.jwtSecret,
      logger: runtime.logger,
      now: runtime.clock,
      pollIntervalMs: config.passwordLifecycle.pendingEmailPollIntervalMs,
      backoffMs: config.passwordLifecycle.pendingEmailBackoffMs,
      composers,
    });
    const passwords = new PasswordLifecycle({
      ...config.passwordLifecycle,
      throttling: config.throttling,
      sessions,
      mailer,
      now: runtime.clock,
    });
    Object.assign(composers, passwords.composers);
    const mfa = new Mfa({ ...config.mfa, onEventsRecorded: () => relay.notify(), now: runtime.clock });
    const auth = new AuthService({
      ...config,
      sessions,
      mfa,
      onEventsRecorded: () => relay.notify(),
      onRegistered: (em, user) => passwords.sendVerificationEmail(em, user),
      now: runtime.clock,
    });
    // Billing's answer, cached per tenant until its plan changes; billing down, invitations are not limited.
    const seatLimits = new TenantAnswerCache<number | null>({
      ask: async (identity) =>
        (
          await callSubgraph({
            url: config.billingUrl,
            internalSecret: runtime.config.internalSecret,
            identity,
            query: AuthSeatLimitDocument,
            timeoutMs: 2_000,
          })
        ).planLimits.seats,
      whenUnavailable: () => null,
      description: "a tenant's seats from billing (invitations are not limited meanwhile)",
      logger: runtime.logger,
      now: runtime.clock,
    });
    return {
      auth,
      seatLimits,
      apiKeys: new ApiKeys(runtime.clock),
      sessions,
      revokedSessions,
      relay,
      mailer,
      passwords,
      mfa,
      saml: new SamlSso({ spBaseUrl: config.saml.spBaseUrl, auth, onEventsRecorded: () => relay.notify(), now: runtime.clock }),
      oidc: new OidcSignInService({
        ...config.oidc,
        providers: configuredProviders(config.oidc),
        secret: config.jwtSecret,
        auth,
        logger: runtime.logger,
        now: runtime.clock,
      }),
      teams: new Teams({
        secret: config.jwtSecret,
        invitationTtlSeconds: config.invitationTtlSeconds,
        webAppUrl: config.passwordLifecycle.appUrl,
        auth,
        sessions,
        mailer,
        seatsAllowed: (caller) => seatLimits.get(caller),
        now: runtime.clock,
      }),
    };
  },
  background: async (runtime, services) => {
    const pruner = setInterval(() => {
      services.auth
        .pruneThrottles(systemFork(runtime.database))
        .catch((error: unknown) => runtime.logger.warn({ err: error }, 'pruning throttle counters failed'));
      services.passwords
        .pruneThrottles(systemFork(runtime.database))
        .catch((error: unknown) => runtime.logger.warn({ err: error }, 'pruning throttle counters failed'));
      services.mfa
        .prune(systemFork(runtime.database))
        .catch((error: unknown) => runtime.logger.warn({ err: error }, 'pruning MFA challenges and counters failed'));
      services.saml
        .prune(systemFork(runtime.database))
        .catch((error: unknown) => runtime.logger.warn({ err: error }, 'pruning SAML requests and used assertions failed'));
    }, THROTTLE_PRUNE_INTERVAL_MS);
    pruner.unref();
    services.relay.start();
    services.mailer.start();
    const planChanges = await services.seatLimits.listen(
      runtime.eventBus,
      instanceQueue(`${runtime.config.amqpNamespace}.auth.plan-changes`, runtime.config.port),
      [SUBSCRIPTION_CHANGED],
    );
    return {
      close: async () => {
        await planChanges.stop();
        clearInterval(pruner);
        await Promise.all([services.relay.stop(), services.mailer.stop()]);
        await services.revokedSessions.close();
      },
    };
  },
});
