import { createHash, randomUUID } from 'node:crypto';
import {
  clientError,
  ErrorCode,
  recordEvent,
  requireRole,
  requireUser,
  requireUuid,
  Role,
  systemFork,
  type Database,
  type EntityManager,
  type Identity,
  type Logger,
} from '@nexusflow/kit';
import { LockMode } from '@mikro-orm/postgresql';
import * as oidc from 'openid-client';
import { IntegrationAuthorization } from '../entities/integration-authorization.entity.ts';
import { Integration, type IntegrationStatus } from '../entities/integration.entity.ts';
import { KeyRing } from './key-ring.ts';
import { ProviderError, type Grant, type OAuthProvider, type StoredTokens } from './oauth.ts';
import {
  credentialVariables,
  isHookTargetOf,
  PROVIDER_NAMES,
  PROVIDERS,
  type ProviderDefinition,
  type ProviderName,
  type ProviderSettings,
} from './providers.ts';

const CONNECTING_ROLES = [Role.Owner, Role.Admin] as const;
const MAX_PAGE = 100;
const REENCRYPT_BATCH = 100;

export type ConnectIntegrationResult = { __typename: 'IntegrationAuthorization'; authorizationUrl: string; state: string; expiresAt: Date };

export type ConnectionFailure = 'INVALID_STATE' | 'EXPIRED' | 'PROVIDER_ERROR';

export type CompleteIntegrationConnectionResult =
  Integration | { __typename: 'IntegrationConnectionFailed'; reason: ConnectionFailure; message: string };

type IntegrationLimitReached = { __typename: 'IntegrationLimitReached'; message: string; limit: number; connected: number };

export type ConnectHookResult =
  Integration | { __typename: 'InvalidHookTarget'; message: string; targetUrl: string } | IntegrationLimitReached;

export type DisconnectIntegrationResult =
  | {
      __typename: 'IntegrationDisconnected';
      id: string;
      provider: ProviderName;
      revokedAtProvider: boolean;
      revocationError: string | null;
    }
  | IntegrationNotFound;

type IntegrationNotFound = { __typename: 'IntegrationNotFound'; message: string; id: string };

/** A provider as the API lists it. */
export interface ProviderView {
  provider: ProviderName;
  name: string;
  kind: ProviderDefinition['kind'];
  connectsBy: 'OAUTH' | 'REST_HOOK';
  configured: boolean;
  missingVariables: string[];
  supportsPkce: boolean;
  revocable: boolean;
  scopes: readonly string[];
}

/** Why an integration's access token cannot be had: for the code that calls the provider's API with it. */
export class IntegrationTokenError extends Error {
  constructor(
    /** PROVIDER_UNREACHABLE: the provider did not answer, or the deployment no longer configures it; try again later. */
    readonly reason: 'NOT_CONNECTED' | 'TOKEN_EXPIRED' | 'PROVIDER_UNREACHABLE',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'IntegrationTokenError';
  }
}

const failureMessages: Record<Exclude<ConnectionFailure, 'PROVIDER_ERROR'>, string> = {
  INVALID_STATE: 'This connection is unknown, was already completed, or was started by someone else; start again',
  EXPIRED: 'This connection took too long; start again',
};

/** States are 256 random bits, so a fast hash is enough to make a stolen table useless. */
const hashState = (state: string) => createHash('sha256').update(state).digest('base64url');

const notFound = (id: string): IntegrationNotFound => ({ __typename: 'IntegrationNotFound', message: `No integration ${id}`, id });

export interface ConnectionsSettings {
  providers: Readonly<Record<ProviderName, ProviderSettings>>;
  /** The OAuth clients of the providers whose credentials are configured. */
  oauth: ReadonlyMap<ProviderName, OAuthProvider>;
  keys: KeyRing;
  connectTtlSeconds: number;
  refreshMarginSeconds: number;
  database: Database;
  /** Called after a flush that recorded events, so the outbox relay publishes them now. */
  eventsRecorded: () => void;
  logger: Logger;
  now: () => number;
  /** Told of each OAuth integration connected, and of each about to be disconnected while its tokens still work. */
  lifecycle?: ConnectionLifecycle;
  /** The integrations the tenant's plan allows (null: unlimited), from billing; unset, connections are not limited. */
  integrationsAllowed?: (caller: Extract<Identity, { kind: 'user' }>) => Promise<number | null>;
}

/** What follows a connection's start and end elsewhere (mailbox watches); never throws. */
export interface ConnectionLifecycle {
  connected(integration: Integration): Promise<void>;
  disconnecting(integration: Integration): Promise<void>;
}

/**
 * A tenant's connections to the providers: OAuth grants started and completed by an admin, REST hook subscriptions
 * for Zapier and Make, access tokens refreshed before they expire, and grants revoked at the provider on disconnect.
 * Tokens are only ever stored sealed (see key-ring.ts), bound to their integration's id.
 */
export class Connections {
  /** One refresh per integration at a time in this process; other instances are kept right by the compare-and-set. */
  private readonly refreshing = new Map<string, Promise<string>>();

  constructor(private readonly settings: ConnectionsSettings) {}

  providers(identity: Identity): ProviderView[] {
    requireUser(identity);
    return PROVIDER_NAMES.map((name) => {
      const { definition, credentials } = this.settings.providers[name];
      return {
        provider: name,
        name: definition.displayName,
        kind: definition.kind,
        connectsBy: definition.oauth ? 'OAUTH' : 'REST_HOOK',
        configured: !definition.oauth || credentials !== undefined,
        missingVariables: definition.oauth && !credentials ? credentialVariables(definition) : [],
        supportsPkce: definition.oauth?.pkce ?? false,
        revocable: definition.oauth?.revocation !== undefined,
        scopes: definition.oauth?.scopes ?? [],
      };
    });
  }

  /** The tenant's connected integrations, newest first. */
  async list(em: EntityManager, identity: Identity, first: number): Promise<Integration[]> {
    requireUser(identity);
    const limit = Math.min(Math.max(first, 0), MAX_PAGE);
    if (limit === 0) return [];
    return em.find(Integration, { disconnectedAt: null }, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  /**
   * Starts an OAuth connection: the provider's authorization URL with a new state (bound to the caller and tenant,
   * single-use, short-lived) and, where the provider supports it, a PKCE challenge. OWNER or ADMIN only.
   */
  async connect(em: EntityManager, identity: Identity, provider: ProviderName): Promise<ConnectIntegrationResult> {
    const caller = requireRole(identity, CONNECTING_ROLES);
    const oauth = this.oauthClientOf(provider);
    const full = await this.limitReached(em, caller);
    if (full) throw clientError(ErrorCode.PlanLimitReached, full.message);
    const state = oidc.randomState();
    const codeVerifier = oauth.supportsPkce ? oidc.randomPKCECodeVerifier() : null;
    const authorizationUrl = await oauth.authorizationUrl(state, codeVerifier);
    const now = this.settings.now();
    const ttlMs = this.settings.connectTtlSeconds * 1000;
    const expiresAt = new Date(now + ttlMs);
    // Expired ones are kept one more period, so that a late completion is told EXPIRED rather than unknown.
    await systemFork(this.settings.database).nativeDelete(IntegrationAuthorization, { expiresAt: { $lt: new Date(now - ttlMs) } });
    const id = randomUUID();
    em.create(IntegrationAuthorization, {
      id,
      tenantId: caller.tenantId,
      userId: caller.userId,
      provider,
      stateHash: hashState(state),
      codeVerifier: codeVerifier === null ? null : this.settings.keys.seal(codeVerifier, id),
      expiresAt,
      usedAt: null,
    });
    await em.flush();
    return { __typename: 'IntegrationAuthorization', authorizationUrl: authorizationUrl.href, state, expiresAt };
  }

  /** Why the tenant may connect no more integrations, or null while its plan allows another. */
  private async limitReached(em: EntityManager, caller: Extract<Identity, { kind: 'user' }>): Promise<IntegrationLimitReached | null> {
    const limit = (await this.settings.integrationsAllowed?.(caller)) ?? null;
    if (limit === null) return null;
    const connected = await em.count(Integration, { disconnectedAt: null });
    if (connected < limit) return null;
    return {
      __typename: 'IntegrationLimitReached',
      message: `Your plan allows ${limit} integrations, and ${connected} are connected; upgrade it or disconnect one first`,
      limit,
      connected,
    };
  }

  /**
   * Completes a connection with the `state` and `code` the provider sent to the redirect URI. The state works once,
   * before it expires, for the admin who started it. Connecting an account that is connected already renews its tokens.
   */
  async complete(em: EntityManager, identity: Identity, state: string, code: string): Promise<CompleteIntegrationConnectionResult> {
    const caller = requireRole(identity, CONNECTING_ROLES);
    const started = await em.findOne(IntegrationAuthorization, { stateHash: hashState(state) });
    if (!started || started.userId !== caller.userId) return this.failed('INVALID_STATE');
    const now = new Date(this.settings.now());
    // The conditional update makes two completions with one state resolve to one winner.
    const claimed = await em.nativeUpdate(IntegrationAuthorization, { id: started.id, usedAt: null }, { usedAt: now });
    if (claimed === 0) return this.failed('INVALID_STATE');
    if (started.expiresAt <= now) return this.failed('EXPIRED');
    const provider = started.provider as ProviderName;
    const oauth = this.oauthClientOf(provider);
    const codeVerifier = started.codeVerifier ? this.settings.keys.open(started.codeVerifier, started.id) : null;

    let grant: Grant;
    try {
      grant = await oauth.exchange(code, state, codeVerifier);
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      this.logRefusal(provider, error);
      return { __typename: 'IntegrationConnectionFailed', reason: 'PROVIDER_ERROR', message: error.message };
    }
    const existing =
      grant.account.id === null ? null : await em.findOne(Integration, { provider, accountId: grant.account.id, disconnectedAt: null });
    const integration =
      existing ??
      em.create(Integration, {
        id: randomUUID(),
        tenantId: caller.tenantId,
        connectedBy: caller.userId,
        provider,
        status: 'CONNECTED',
        statusMessage: null,
        accountId: grant.account.id,
        accountLabel: grant.account.label,
        scopes: [],
        credentials: null,
        credentialsKeyId: null,
        accessTokenExpiresAt: null,
        apiBaseUrl: null,
        hookTargetUrl: null,
        lastSyncAt: null,
        disconnectedAt: null,
      });
    this.store(integration, grant, 'CONNECTED', null);
    integration.accountLabel = grant.account.label ?? integration.accountLabel;
    integration.apiBaseUrl = grant.account.apiBaseUrl ?? integration.apiBaseUrl;
    recordEvent(
      em,
      {
        type: 'integration.connected',
        tenantId: caller.tenantId,
        payload: { integrationId: integration.id, provider, accountLabel: integration.accountLabel, connectedBy: caller.userId },
      },
      now,
    );
    await em.flush();
    this.settings.eventsRecorded();
    await this.settings.lifecycle?.connected(integration);
    return integration;
  }

  /**
   * Connects Zapier or Make by a REST hook subscription: the hook URL the tenant made there (a Zap's "Catch Hook", a
   * scenario's custom webhook), where deliveries will go. It must be on the provider's own host. OWNER or ADMIN only.
   */
  async connectHook(em: EntityManager, identity: Identity, provider: ProviderName, targetUrl: string): Promise<ConnectHookResult> {
    const caller = requireRole(identity, CONNECTING_ROLES);
    const settings = this.settings.providers[provider];
    if (settings.definition.oauth) {
      throw clientError(ErrorCode.BadUserInput, `${settings.definition.displayName} connects through OAuth: use connectIntegration`, {
        field: 'provider',
      });
    }
    let target: URL;
    try {
      target = new URL(targetUrl);
    } catch {
      return { __typename: 'InvalidHookTarget', message: 'The target URL is not a URL', targetUrl };
    }
    if (!isHookTargetOf(settings, target)) {
      const host = settings.baseUrl.host;
      return {
        __typename: 'InvalidHookTarget',
        message: `A ${settings.definition.displayName} hook URL is an https URL on ${host}`,
        targetUrl,
      };
    }
    const full = await this.limitReached(em, caller);
    if (full) return full;
    const now = new Date(this.settings.now());
    const integration = em.create(Integration, {
      id: randomUUID(),
      tenantId: caller.tenantId,
      connectedBy: caller.userId,
      provider,
      status: 'CONNECTED',
      statusMessage: null,
      accountId: null,
      accountLabel: target.host,
      scopes: [],
      credentials: null,
      credentialsKeyId: null,
      accessTokenExpiresAt: null,
      apiBaseUrl: null,
      hookTargetUrl: target.href,
      lastSyncAt: null,
      disconnectedAt: null,
    });
    recordEvent(
      em,
      {
        type: 'integration.connected',
        tenantId: caller.tenantId,
        payload: { integrationId: integration.id, provider, accountLabel: integration.accountLabel, connectedBy: caller.userId },
      },
      now,
    );
    await em.flush();
    this.settings.eventsRecorded();
    return integration;
  }

  /**
   * Disconnects an integration: the grant is revoked at the provider when it offers revocation, the tokens are erased,
   * and it leaves the list. A provider that fails to revoke does not keep it connected; the answer says so.
   */
  async disconnect(em: EntityManager, identity: Identity, id: string): Promise<DisconnectIntegrationResult> {
    const caller = requireRole(identity, CONNECTING_ROLES);
    const integration = await em.findOne(Integration, { id: requireUuid(id, 'id'), disconnectedAt: null });
    if (!integration) return notFound(id);
    const provider = integration.provider as ProviderName;
    let revokedAtProvider = false;
    let revocationError: string | null = null;
    const oauth = this.settings.oauth.get(provider);
    if (integration.credentials !== null) await this.settings.lifecycle?.disconnecting(integration);
    if (integration.credentials !== null && oauth) {
      try {
        revokedAtProvider = await oauth.revoke(this.tokensOf(integration));
      } catch (error) {
        if (!(error instanceof ProviderError)) throw error;
        this.logRefusal(provider, error);
        revocationError = error.message;
      }
    }
    const now = new Date(this.settings.now());
    Object.assign(integration, { credentials: null, credentialsKeyId: null, accessTokenExpiresAt: null, disconnectedAt: now });
    recordEvent(
      em,
      {
        type: 'integration.disconnected',
        tenantId: caller.tenantId,
        payload: { integrationId: integration.id, provider, revokedAtProvider, disconnectedBy: caller.userId },
      },
      now,
    );
    await em.flush();
    this.settings.eventsRecorded();
    return { __typename: 'IntegrationDisconnected', id: integration.id, provider, revokedAtProvider, revocationError };
  }

  /**
   * A working access token of an integration, refreshed first when it expires within the refresh margin, or when it is
   * `rejected`: the token the provider's API just answered 401 to (a Salesforce session may end before the two hours
   * assumed). A provider that refuses the refresh turns the integration TOKEN_EXPIRED (an admin must connect it again)
   * or ERROR, with its words. `em` sees the integration: a tenant's unit of work, or a system one for background work.
   */
  async accessToken(em: EntityManager, integrationId: string, rejected?: string): Promise<string> {
    const integration = await em.findOne(Integration, { id: integrationId, disconnectedAt: null });
    if (!integration?.credentials) throw new IntegrationTokenError('NOT_CONNECTED', `Integration ${integrationId} is not connected`);
    const tokens = this.tokensOf(integration);
    const expiresAt = integration.accessTokenExpiresAt?.getTime();
    const expiring = expiresAt !== undefined && expiresAt - this.settings.refreshMarginSeconds * 1000 <= this.settings.now();
    if (!expiring && tokens.accessToken !== rejected) return tokens.accessToken;
    let refresh = this.refreshing.get(integrationId);
    if (!refresh) {
      refresh = this.refresh(em, integration, tokens).finally(() => this.refreshing.delete(integrationId));
      this.refreshing.set(integrationId, refresh);
    }
    return refresh;
  }

  /**
   * Seals every stored credential that an older key sealed with the newest key, so that the old key can leave the
   * ring; returns how many it re-encrypted. Runs at start, after a rotation.
   */
  async reencryptCredentials(): Promise<number> {
    const em = systemFork(this.settings.database);
    const current = this.settings.keys.currentKeyId;
    let reencrypted = 0;
    for (;;) {
      const stale = await em.find(
        Integration,
        { credentials: { $ne: null }, credentialsKeyId: { $ne: current } },
        { limit: REENCRYPT_BATCH, orderBy: { id: 'asc' } },
      );
      for (const integration of stale) {
        const sealed = this.settings.keys.seal(this.settings.keys.open(integration.credentials!, integration.id), integration.id);
        // Compare-and-set: a refresh that sealed new tokens meanwhile wins, and is current already.
        reencrypted += await em.nativeUpdate(
          Integration,
          { id: integration.id, credentials: integration.credentials },
          { credentials: sealed, credentialsKeyId: current },
        );
      }
      em.clear();
      if (stale.length < REENCRYPT_BATCH) return reencrypted;
    }
  }

  private async refresh(em: EntityManager, integration: Integration, tokens: StoredTokens): Promise<string> {
    const provider = integration.provider as ProviderName;
    const oauth = this.settings.oauth.get(provider);
    if (!oauth) {
      const message = `${PROVIDERS[provider].displayName} is no longer configured on this deployment`;
      await this.setStatus(em, integration, 'ERROR', message);
      throw new IntegrationTokenError('PROVIDER_UNREACHABLE', message);
    }
    if (!tokens.refreshToken) {
      await this.setStatus(em, integration, 'TOKEN_EXPIRED', 'The access token expired and the provider gave no way to refresh it');
      throw new IntegrationTokenError('TOKEN_EXPIRED', `Integration ${integration.id} needs connecting again`);
    }
    const refreshToken = tokens.refreshToken;
    const read = integration.credentials;
    // One refresh at a time across instances: the row is locked while the provider is asked, and a refresh that finds
    // the credentials changed since it read them uses the new ones. Without it, a provider that rotates refresh tokens
    // (Salesforce, with rotation on) refused the second refresh as a reused token, and the integration was marked
    // TOKEN_EXPIRED although its stored tokens worked.
    const outcome = await em.transactional(async (tx): Promise<{ accessToken: string } | { refused: IntegrationTokenError }> => {
      const current = await tx.findOne(
        Integration,
        { id: integration.id, disconnectedAt: null },
        { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
      );
      if (!current?.credentials)
        return { refused: new IntegrationTokenError('NOT_CONNECTED', `Integration ${integration.id} is not connected`) };
      if (current.credentials !== read) return { accessToken: this.tokensOf(current).accessToken };
      let grant: Grant;
      try {
        grant = await oauth.refresh(refreshToken);
      } catch (error) {
        if (!(error instanceof ProviderError)) throw error;
        this.logRefusal(provider, error);
        if (error.reason === 'UNREACHABLE')
          return { refused: new IntegrationTokenError('PROVIDER_UNREACHABLE', error.message, { cause: error }) };
        await this.setStatus(tx, current, error.providerError === 'invalid_grant' ? 'TOKEN_EXPIRED' : 'ERROR', error.message);
        return { refused: new IntegrationTokenError('TOKEN_EXPIRED', error.message, { cause: error }) };
      }
      // A sync in progress stays SYNCING; a refresh that works again ends TOKEN_EXPIRED or ERROR.
      this.store(current, grant, current.status === 'SYNCING' ? 'SYNCING' : 'CONNECTED', null);
      await tx.flush();
      return { accessToken: grant.accessToken };
    });
    if ('refused' in outcome) throw outcome.refused;
    return outcome.accessToken;
  }

  private async setStatus(em: EntityManager, integration: Integration, status: IntegrationStatus, message: string): Promise<void> {
    await em.nativeUpdate(Integration, { id: integration.id }, { status, statusMessage: message });
    integration.status = status;
    integration.statusMessage = message;
  }

  private store(integration: Integration, grant: Grant, status: IntegrationStatus, statusMessage: string | null): void {
    const tokens: StoredTokens = { accessToken: grant.accessToken, refreshToken: grant.refreshToken };
    integration.credentials = this.settings.keys.seal(JSON.stringify(tokens), integration.id);
    integration.credentialsKeyId = this.settings.keys.currentKeyId;
    integration.accessTokenExpiresAt = grant.expiresAt;
    if (grant.scopes.length > 0) integration.scopes = grant.scopes;
    integration.status = status;
    integration.statusMessage = statusMessage;
  }

  private tokensOf(integration: Integration): StoredTokens {
    return JSON.parse(this.settings.keys.open(integration.credentials!, integration.id)) as StoredTokens;
  }

  /** The OAuth client of a configured provider; a clear refusal naming what to set otherwise. */
  private oauthClientOf(provider: ProviderName): OAuthProvider {
    const { definition } = this.settings.providers[provider];
    if (!definition.oauth) {
      throw clientError(ErrorCode.BadUserInput, `${definition.displayName} connects by a REST hook: use connectHookIntegration`, {
        field: 'provider',
      });
    }
    const oauth = this.settings.oauth.get(provider);
    if (!oauth) {
      const [clientId, clientSecret] = credentialVariables(definition);
      throw clientError(
        ErrorCode.ServiceUnavailable,
        `${definition.displayName} is not configured on this deployment: set ${clientId} and ${clientSecret}`,
      );
    }
    return oauth;
  }

  private failed(reason: Exclude<ConnectionFailure, 'PROVIDER_ERROR'>) {
    return { __typename: 'IntegrationConnectionFailed', reason, message: failureMessages[reason] } as const;
  }

  /** The library's code and message only: what it wraps may hold the provider's answer, tokens among them. */
  private logRefusal(provider: ProviderName, error: ProviderError): void {
    const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
    this.settings.logger.warn({ provider, reason: error.reason, code: cause?.code, cause: cause?.message }, error.message);
  }
}
