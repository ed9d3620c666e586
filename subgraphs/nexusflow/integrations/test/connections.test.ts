import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, systemFork, type DomainEvent } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { IntegrationTokenError } from '../src/domain/connections.ts';
import { FakeHubSpot, FakeSalesforce, FakeSlack } from './support/fake-providers.ts';
import { callerOf, startIntegrationsUnderTest, type Caller, type IntegrationsUnderTest } from './support/integrations-under-test.ts';

const REDIRECT_URI = 'https://app.example/integrations/callback';
const CONNECT_TTL_SECONDS = 300;
const REFRESH_MARGIN_SECONDS = 300;
const OLD_KEY = `2026-01:${'a'.repeat(40)}`;
const NEW_KEY = `2026-06:${'b'.repeat(40)}`;

const INTEGRATION =
  'id provider kind status statusMessage accountLabel scopes hookTargetUrl accessTokenExpiresAt connectedAt lastSyncAt counts { syncedRecords heldConflicts }';
const PROVIDERS = '{ integrationProviders { provider name kind connectsBy configured missingVariables supportsPkce revocable scopes } }';
const CONNECT =
  'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl state expiresAt } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) {
    __typename ... on Integration { ${INTEGRATION} } ... on IntegrationConnectionFailed { reason message }
  }
}`;
const CONNECT_HOOK = `mutation ($provider: IntegrationProvider!, $targetUrl: String!) {
  connectHookIntegration(provider: $provider, targetUrl: $targetUrl) {
    __typename ... on Integration { ${INTEGRATION} } ... on InvalidHookTarget { message targetUrl }
  }
}`;
const DISCONNECT = `mutation ($id: ID!) {
  disconnectIntegration(id: $id) {
    __typename ... on IntegrationDisconnected { id provider revokedAtProvider revocationError } ... on IntegrationNotFound { id }
  }
}`;
const LIST = `{ integrations { ${INTEGRATION} } }`;
const FIND = `query ($id: ID!) { integration(id: $id) { ${INTEGRATION} } }`;

type Provider = 'HUBSPOT' | 'SLACK' | 'SALESFORCE';

/**
 * Connecting HubSpot, Slack and Salesforce through their OAuth 2.0 flows, against fakes of the three that speak their
 * real protocols over HTTP: the test is the admin's browser (the provider sends it back with a code), the subgraph does
 * the rest with openid-client. Zapier connects by a REST hook.
 */
describe('connections to providers', () => {
  const hubspot = new FakeHubSpot('hubspot-client', 'hubspot-secret');
  const slack = new FakeSlack('slack-client', 'slack-secret');
  const salesforce = new FakeSalesforce('salesforce-client', 'salesforce-secret');
  const fakes = { HUBSPOT: hubspot, SLACK: slack, SALESFORCE: salesforce } as const;

  beforeAll(async () => {
    await Promise.all([hubspot.start(), slack.start(), salesforce.start()]);
  });

  afterAll(async () => {
    await Promise.all([hubspot.close(), slack.close(), salesforce.close()]);
  });

  const providerEnv = () => ({
    INTEGRATIONS_REDIRECT_URI: REDIRECT_URI,
    INTEGRATIONS_CONNECT_TTL_SECONDS: String(CONNECT_TTL_SECONDS),
    INTEGRATIONS_REFRESH_MARGIN_SECONDS: String(REFRESH_MARGIN_SECONDS),
    INTEGRATIONS_HUBSPOT_CLIENT_ID: hubspot.clientId,
    INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
    INTEGRATIONS_HUBSPOT_BASE_URL: hubspot.origin,
    INTEGRATIONS_SLACK_CLIENT_ID: slack.clientId,
    INTEGRATIONS_SLACK_CLIENT_SECRET: slack.clientSecret,
    INTEGRATIONS_SLACK_BASE_URL: slack.origin,
    INTEGRATIONS_SALESFORCE_CLIENT_ID: salesforce.clientId,
    INTEGRATIONS_SALESFORCE_CLIENT_SECRET: salesforce.clientSecret,
    INTEGRATIONS_SALESFORCE_BASE_URL: salesforce.origin,
  });

  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let under: IntegrationsUnderTest;
    const clock = { now: Date.now() };

    beforeAll(async () => {
      under = await startIntegrationsUnderTest(mode, 'connections', { ...providerEnv(), INTEGRATIONS_ENCRYPTION_KEYS: OLD_KEY }, clock);
    });

    afterAll(async () => {
      await under?.close();
    });

    const adminOf = (tenantId = randomUUID()) => callerOf(tenantId, [Role.Admin]);

    async function start(admin: Caller, provider: Provider) {
      return (await under.answer(admin, CONNECT, { provider })).connectIntegration as { authorizationUrl: string; state: string };
    }

    async function complete(admin: Caller, state: string, code: string) {
      return (await under.answer(admin, COMPLETE, { state, code })).completeIntegrationConnection;
    }

    /** The whole round: started by `admin`, consented at the provider, completed with what it sent back. */
    async function connect(admin: Caller, provider: Provider) {
      const started = await start(admin, provider);
      const { code, state } = await fakes[provider].consent(started.authorizationUrl);
      return complete(admin, state, code);
    }

    async function storedTokensOf(integrationId: string): Promise<{ accessToken: string; refreshToken: string | null }> {
      const em = systemFork(under.subgraph.database);
      const accessToken = await under.subgraph.services.connections.accessToken(em, integrationId);
      const issued = Object.values(fakes)
        .map((fake) => fake.accessTokens.get(accessToken))
        .find((found) => found !== undefined);
      return { accessToken, refreshToken: issued?.refreshToken ?? null };
    }

    it('lists the ten providers, those without credentials as not configured with the variables to set', async () => {
      const listed = (await under.answer(adminOf(), PROVIDERS)).integrationProviders as Record<string, any>[];
      expect(listed.map((provider) => provider.provider)).toEqual([
        'SALESFORCE',
        'HUBSPOT',
        'PIPEDRIVE',
        'ZOHO_CRM',
        'SLACK',
        'MICROSOFT_TEAMS',
        'GMAIL',
        'OUTLOOK',
        'ZAPIER',
        'MAKE',
      ]);
      const byName = Object.fromEntries(listed.map((provider) => [provider.provider, provider]));
      expect(byName.SALESFORCE).toMatchObject({ kind: 'CRM', connectsBy: 'OAUTH', configured: true, supportsPkce: true, revocable: true });
      expect(byName.HUBSPOT).toMatchObject({ kind: 'CRM', configured: true, supportsPkce: false, missingVariables: [] });
      expect(byName.SLACK).toMatchObject({ kind: 'MESSAGING', configured: true, scopes: ['chat:write', 'channels:read', 'groups:read'] });
      expect(byName.GMAIL).toMatchObject({ kind: 'MAIL', configured: false, supportsPkce: true, revocable: true });
      expect(byName.MICROSOFT_TEAMS).toMatchObject({ kind: 'MESSAGING', revocable: false });
      expect(byName.PIPEDRIVE).toMatchObject({
        configured: false,
        missingVariables: ['INTEGRATIONS_PIPEDRIVE_CLIENT_ID', 'INTEGRATIONS_PIPEDRIVE_CLIENT_SECRET'],
      });
      expect(byName.ZAPIER).toMatchObject({ kind: 'WEBHOOK', connectsBy: 'REST_HOOK', configured: true, missingVariables: [] });
    });

    it('connects Salesforce with PKCE: the challenge in the authorization URL, its verifier in the token request, the instance as the account', async () => {
      const admin = adminOf();
      const started = await start(admin, 'SALESFORCE');
      const url = new URL(started.authorizationUrl);
      expect(`${url.origin}${url.pathname}`).toBe(`${salesforce.origin}/services/oauth2/authorize`);
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        response_type: 'code',
        client_id: salesforce.clientId,
        redirect_uri: REDIRECT_URI,
        scope: 'api refresh_token',
        state: started.state,
        code_challenge_method: 'S256',
        code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      });
      const { code, state } = await salesforce.consent(started.authorizationUrl);
      const connected = await complete(admin, state, code);
      expect(connected).toMatchObject({
        __typename: 'Integration',
        provider: 'SALESFORCE',
        kind: 'CRM',
        status: 'CONNECTED',
        statusMessage: null,
        accountLabel: new URL(salesforce.origin).host,
        scopes: ['api', 'refresh_token'],
        lastSyncAt: null,
        counts: { syncedRecords: 0, heldConflicts: 0 },
      });
      // Salesforce says nothing of expiry: its default session timeout of two hours is assumed.
      expect(new Date(connected.accessTokenExpiresAt).getTime()).toBe(clock.now + 2 * 60 * 60 * 1000);
      const exchange = salesforce.tokenRequests.at(-1)!;
      expect(exchange.get('grant_type')).toBe('authorization_code');
      expect(exchange.get('code_verifier')).toMatch(/^[\w-]{43}$/);
      const { __typename, ...integration } = connected;
      expect((await under.answer(admin, FIND, { id: connected.id })).integration).toEqual(integration);
    });

    it('connects HubSpot without PKCE, which it does not support, naming the portal', async () => {
      const admin = adminOf();
      const started = await start(admin, 'HUBSPOT');
      const url = new URL(started.authorizationUrl);
      expect(url.pathname).toBe('/oauth/authorize');
      expect(url.searchParams.get('code_challenge')).toBeNull();
      expect(url.searchParams.get('scope')?.split(' ')).toContain('crm.objects.contacts.write');
      const { code, state } = await hubspot.consent(started.authorizationUrl);
      const connected = await complete(admin, state, code);
      expect(connected).toMatchObject({
        __typename: 'Integration',
        provider: 'HUBSPOT',
        status: 'CONNECTED',
        accountLabel: hubspot.hubDomain,
      });
      expect(new Date(connected.accessTokenExpiresAt).getTime()).toBe(clock.now + FakeHubSpot.EXPIRES_IN * 1000);
      expect(hubspot.tokenRequests.at(-1)!.has('code_verifier')).toBe(false);
    });

    it("connects Slack through oauth.v2.access, reading its bot token and its 200 answers as OAuth's, naming the workspace", async () => {
      const admin = adminOf();
      const connected = await connect(admin, 'SLACK');
      expect(connected).toMatchObject({
        __typename: 'Integration',
        provider: 'SLACK',
        kind: 'MESSAGING',
        accountLabel: slack.team.name,
        scopes: ['chat:write', 'channels:read', 'groups:read'],
      });
      expect(new Date(connected.accessTokenExpiresAt).getTime()).toBe(clock.now + FakeSlack.EXPIRES_IN * 1000);
      // Connecting the same workspace again renews the tokens of the one integration.
      const again = await connect(admin, 'SLACK');
      expect(again.id).toBe(connected.id);
      expect((await under.answer(admin, LIST)).integrations).toHaveLength(1);
      const refused = await under.answer(admin, COMPLETE, { state: (await start(admin, 'SLACK')).state, code: 'not-a-code' });
      expect(refused.completeIntegrationConnection).toEqual({
        __typename: 'IntegrationConnectionFailed',
        reason: 'PROVIDER_ERROR',
        message: 'Slack: invalid_code',
      });
    });

    it('refuses a wrong state, a used one, an expired one, and one another admin started, storing nothing', async () => {
      const tenantId = randomUUID();
      const admin = adminOf(tenantId);
      const otherAdmin = adminOf(tenantId);
      const stranger = adminOf();
      const refusal = (reason: string) => expect.objectContaining({ __typename: 'IntegrationConnectionFailed', reason });

      expect(await complete(admin, 'made-up-state', 'code')).toEqual(refusal('INVALID_STATE'));

      const started = await start(admin, 'HUBSPOT');
      const { code, state } = await hubspot.consent(started.authorizationUrl);
      expect(await complete(otherAdmin, state, code)).toEqual(refusal('INVALID_STATE'));
      expect(await complete(stranger, state, code)).toEqual(refusal('INVALID_STATE'));
      expect(await complete(admin, state, code)).toMatchObject({ __typename: 'Integration' });
      expect(await complete(admin, state, code)).toEqual(refusal('INVALID_STATE'));

      const late = await start(admin, 'SALESFORCE');
      const lateResponse = await salesforce.consent(late.authorizationUrl);
      clock.now += (CONNECT_TTL_SECONDS + 1) * 1000;
      try {
        expect(await complete(admin, lateResponse.state, lateResponse.code)).toEqual(refusal('EXPIRED'));
      } finally {
        clock.now -= (CONNECT_TTL_SECONDS + 1) * 1000;
      }
      const listed = (await under.answer(admin, LIST)).integrations as { provider: string }[];
      expect(listed.map((integration) => integration.provider)).toEqual(['HUBSPOT']);
      expect((await under.answer(otherAdmin, LIST)).integrations).toHaveLength(1);
      expect((await under.answer(stranger, LIST)).integrations).toEqual([]);
    });

    it('answers a provider without credentials with SERVICE_UNAVAILABLE naming its variables, and Zapier with BAD_USER_INPUT', async () => {
      const admin = adminOf();
      const unconfigured = await under.ask(admin, CONNECT, { provider: 'PIPEDRIVE' });
      expect(unconfigured.errors?.[0]).toMatchObject({
        message:
          'Pipedrive is not configured on this deployment: set INTEGRATIONS_PIPEDRIVE_CLIENT_ID and INTEGRATIONS_PIPEDRIVE_CLIENT_SECRET',
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
      const hook = await under.ask(admin, CONNECT, { provider: 'ZAPIER' });
      expect(hook.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'provider' } });
    });

    it('stores tokens only sealed: no access or refresh token, nor PKCE verifier, in plain text in any row', async () => {
      const admin = adminOf();
      const connected = await connect(admin, 'HUBSPOT');
      const tokens = await storedTokensOf(connected.id);
      expect(tokens.refreshToken).toMatch(/^hs-refresh-/);
      const [row] = await under.rows('select * from integrations where id = ?', [connected.id]);
      const stored = JSON.stringify(row);
      expect(stored).not.toContain(tokens.accessToken);
      expect(stored).not.toContain(tokens.refreshToken);
      expect(row!.credentials).toMatch(/^v1\.2026-01\.[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(row!.credentials_key_id).toBe('2026-01');

      await start(admin, 'SALESFORCE');
      const verifiers = await under.rows('select code_verifier from integration_authorizations where code_verifier is not null');
      const verifierSent = salesforce.tokenRequests.map((form) => form.get('code_verifier'));
      for (const { code_verifier: sealed } of verifiers) {
        expect(sealed).toMatch(/^v1\.2026-01\./);
        expect(verifierSent).not.toContain(sealed);
      }
    });

    it.each([
      { provider: 'HUBSPOT', expiresIn: FakeHubSpot.EXPIRES_IN },
      { provider: 'SLACK', expiresIn: FakeSlack.EXPIRES_IN },
    ] as const)(
      'refreshes a $provider access token about to expire when it is used, once for uses at the same time',
      async ({ provider, expiresIn }) => {
        const admin = adminOf();
        const fake = fakes[provider];
        const connected = await connect(admin, provider);
        const first = await storedTokensOf(connected.id);
        const grantsBefore = fake.tokenRequests.length;
        expect((await storedTokensOf(connected.id)).accessToken).toBe(first.accessToken);
        expect(fake.tokenRequests).toHaveLength(grantsBefore);

        clock.now += (expiresIn - REFRESH_MARGIN_SECONDS + 1) * 1000;
        const [refreshed, atTheSameTime] = await Promise.all([storedTokensOf(connected.id), storedTokensOf(connected.id)]);
        expect(atTheSameTime.accessToken).toBe(refreshed.accessToken);
        expect(refreshed.accessToken).not.toBe(first.accessToken);
        expect(fake.works(refreshed.accessToken)).toBe(true);
        expect(fake.tokenRequests.slice(grantsBefore).map((form) => Object.fromEntries(form))).toEqual([
          expect.objectContaining({ grant_type: 'refresh_token', refresh_token: first.refreshToken }),
        ]);
        const seen = (await under.answer(admin, FIND, { id: connected.id })).integration;
        expect(new Date(seen.accessTokenExpiresAt).getTime()).toBe(clock.now + expiresIn * 1000);
        expect(seen.status).toBe('CONNECTED');
      },
    );

    it('refreshes a Salesforce access token its API rejected, whose expiry Salesforce does not tell', async () => {
      const admin = adminOf();
      const connected = await connect(admin, 'SALESFORCE');
      const em = systemFork(under.subgraph.database);
      const first = await storedTokensOf(connected.id);
      const replaced = await under.subgraph.services.connections.accessToken(em, connected.id, first.accessToken);
      expect(replaced).not.toBe(first.accessToken);
      expect(salesforce.works(replaced)).toBe(true);
      expect(Object.fromEntries(salesforce.tokenRequests.at(-1)!)).toMatchObject({
        grant_type: 'refresh_token',
        refresh_token: first.refreshToken,
      });
      // A token rejected earlier is no reason to refresh again.
      expect(await under.subgraph.services.connections.accessToken(em, connected.id, first.accessToken)).toBe(replaced);
    });

    it.runIf(mode === 'postgres')(
      'refreshes once when two instances find the same token rejected at once, with Salesforce rotating refresh tokens',
      async () => {
        const admin = adminOf();
        const connected = await connect(admin, 'SALESFORCE');
        const first = await storedTokensOf(connected.id);
        const twin = await under.startTwin();
        salesforce.rotateRefreshTokens = true;
        const requestsBefore = salesforce.tokenRequests.length;
        const held = salesforce.holdRefreshes();
        try {
          const both = Promise.all(
            [under.subgraph, twin].map((instance) =>
              instance.services.connections.accessToken(systemFork(instance.database), connected.id, first.accessToken),
            ),
          );
          // Answered once both have read the credentials: both refreshes reached Salesforce, or one waits for the other.
          const waitingForALock = async () =>
            (
              await under.rows(
                `select count(*)::int as count from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`,
              )
            )[0]!.count as number;
          await expect.poll(async () => held.arrived() >= 2 || (await waitingForALock()) > 0, { timeout: 10_000, interval: 20 }).toBe(true);
          held.release();
          const [mine, theirs] = await both;
          expect(mine).toBe(theirs);
          expect(salesforce.works(mine!)).toBe(true);
        } finally {
          held.release();
          salesforce.rotateRefreshTokens = false;
        }
        expect(salesforce.tokenRequests.length - requestsBefore).toBe(1);
        expect((await under.answer(admin, FIND, { id: connected.id })).integration.status).toBe('CONNECTED');
      },
    );

    it('marks an integration TOKEN_EXPIRED, in the provider’s words, when the provider refuses to refresh its token', async () => {
      const admin = adminOf();
      const connected = await connect(admin, 'HUBSPOT');
      const { refreshToken } = await storedTokensOf(connected.id);
      hubspot.revokeAtProvider(refreshToken!);
      clock.now += FakeHubSpot.EXPIRES_IN * 1000;
      const em = systemFork(under.subgraph.database);
      await expect(under.subgraph.services.connections.accessToken(em, connected.id)).rejects.toThrow(IntegrationTokenError);
      expect((await under.answer(admin, FIND, { id: connected.id })).integration).toMatchObject({
        status: 'TOKEN_EXPIRED',
        statusMessage: 'HubSpot: missing or invalid refresh token',
      });
    });

    it.each([
      { provider: 'HUBSPOT', revoking: 'refresh token', how: 'with DELETE /oauth/v1/refresh-tokens' },
      { provider: 'SLACK', revoking: 'access token', how: 'with auth.revoke' },
      { provider: 'SALESFORCE', revoking: 'refresh token', how: 'at its RFC 7009 endpoint' },
    ] as const)('disconnects $provider, revoking its $revoking $how, and lists it no more', async ({ provider, revoking }) => {
      const admin = adminOf();
      const connected = await connect(admin, provider);
      const tokens = await storedTokensOf(connected.id);
      const disconnected = (await under.answer(admin, DISCONNECT, { id: connected.id })).disconnectIntegration;
      expect(disconnected).toEqual({
        __typename: 'IntegrationDisconnected',
        id: connected.id,
        provider,
        revokedAtProvider: true,
        revocationError: null,
      });
      expect(fakes[provider].revoked.at(-1)).toBe(revoking === 'refresh token' ? tokens.refreshToken : tokens.accessToken);
      expect(fakes[provider].works(tokens.accessToken)).toBe(false);
      expect((await under.answer(admin, LIST)).integrations).toEqual([]);
      expect((await under.answer(admin, FIND, { id: connected.id })).integration).toBeNull();
      expect((await under.answer(admin, DISCONNECT, { id: connected.id })).disconnectIntegration).toEqual({
        __typename: 'IntegrationNotFound',
        id: connected.id,
      });
      const [row] = await under.rows('select credentials, disconnected_at from integrations where id = ?', [connected.id]);
      expect(row).toMatchObject({ credentials: null, disconnected_at: expect.anything() });
    });

    it('publishes integration.connected and integration.disconnected through the outbox, with the state they report', async () => {
      const published: DomainEvent[] = [];
      const subscription = await under.subgraph.eventBus.subscribe(
        { queue: `integration-events-${randomUUID()}`, bindings: ['integration.*'] },
        async (event) => {
          published.push(event);
        },
      );
      try {
        const admin = adminOf();
        const connected = await connect(admin, 'SALESFORCE');
        await under.answer(admin, DISCONNECT, { id: connected.id });
        const [outboxed] = await under.rows(`select count(*)::int as count from outbox_events where payload->>'integrationId' = ?`, [
          connected.id,
        ]);
        expect(outboxed!.count).toBe(2);
        await expect.poll(() => published.filter((event) => event.payload.integrationId === connected.id)).toHaveLength(2);
        expect(published.filter((event) => event.payload.integrationId === connected.id)).toEqual([
          expect.objectContaining({
            type: 'integration.connected',
            tenantId: admin.tenantId,
            payload: {
              integrationId: connected.id,
              provider: 'SALESFORCE',
              accountLabel: connected.accountLabel,
              connectedBy: admin.userId,
            },
          }),
          expect.objectContaining({
            type: 'integration.disconnected',
            tenantId: admin.tenantId,
            payload: { integrationId: connected.id, provider: 'SALESFORCE', revokedAtProvider: true, disconnectedBy: admin.userId },
          }),
        ]);
      } finally {
        await subscription.stop();
      }
    });

    it('connects Zapier by a REST hook on hooks.zapier.com, refusing any other target', async () => {
      const admin = adminOf();
      const targetUrl = 'https://hooks.zapier.com/hooks/catch/123456/abcdef/';
      const connected = (await under.answer(admin, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl })).connectHookIntegration;
      expect(connected).toMatchObject({
        __typename: 'Integration',
        provider: 'ZAPIER',
        kind: 'WEBHOOK',
        status: 'CONNECTED',
        hookTargetUrl: targetUrl,
      });
      for (const refused of [
        'https://hooks.zapier.com.evil.example/x',
        'http://hooks.zapier.com/hooks/catch/1/a/',
        'https://hooks.zapier.com:8443/hooks/catch/1/a/',
        'https://10.0.0.1/hook',
        'not a url',
      ]) {
        const answer = (await under.answer(admin, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl: refused })).connectHookIntegration;
        expect(answer, refused).toMatchObject({ __typename: 'InvalidHookTarget', targetUrl: refused });
      }
      const make = (await under.answer(admin, CONNECT_HOOK, { provider: 'MAKE', targetUrl: 'https://hook.eu1.make.com/abc123' }))
        .connectHookIntegration;
      expect(make).toMatchObject({ provider: 'MAKE', accountLabel: 'hook.eu1.make.com' });
      const oauthProvider = await under.ask(admin, CONNECT_HOOK, { provider: 'HUBSPOT', targetUrl });
      expect(oauthProvider.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'provider' });
      const disconnected = (await under.answer(admin, DISCONNECT, { id: connected.id })).disconnectIntegration;
      expect(disconnected).toMatchObject({ revokedAtProvider: false, revocationError: null });
    });

    it('refuses MEMBERs and VIEWERs every connection change with FORBIDDEN, while they read the integrations', async () => {
      const tenantId = randomUUID();
      const admin = adminOf(tenantId);
      const connected = await connect(admin, 'SLACK');
      for (const role of [Role.Member, Role.Viewer]) {
        const member = callerOf(tenantId, [role]);
        const attempts = [
          await under.ask(member, CONNECT, { provider: 'SLACK' }),
          await under.ask(member, COMPLETE, { state: 'state', code: 'code' }),
          await under.ask(member, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl: 'https://hooks.zapier.com/hooks/catch/1/a/' }),
          await under.ask(member, DISCONNECT, { id: connected.id }),
        ];
        expect(attempts.map((attempt) => attempt.errors?.[0]?.extensions?.code)).toEqual([
          'FORBIDDEN',
          'FORBIDDEN',
          'FORBIDDEN',
          'FORBIDDEN',
        ]);
        const listed = (await under.answer(member, LIST)).integrations as { id: string }[];
        expect(listed.map((integration) => integration.id)).toEqual([connected.id]);
      }
      const anonymous = await under.ask({ kind: 'anonymous' }, LIST);
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('marks an integration ERROR, in the provider’s words, when the provider refuses a refresh for another reason than the grant', async () => {
      const admin = adminOf();
      const connected = await connect(admin, 'HUBSPOT');
      await under.restart({ INTEGRATIONS_HUBSPOT_CLIENT_SECRET: 'a secret HubSpot does not know' });
      try {
        clock.now += FakeHubSpot.EXPIRES_IN * 1000;
        const em = systemFork(under.subgraph.database);
        await expect(under.subgraph.services.connections.accessToken(em, connected.id)).rejects.toThrow(IntegrationTokenError);
        expect((await under.answer(admin, FIND, { id: connected.id })).integration).toMatchObject({
          status: 'ERROR',
          statusMessage: 'HubSpot: missing or unknown client id',
        });
      } finally {
        await under.restart({ INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret });
      }
      // Once the deployment is right again, the next use refreshes and the integration is CONNECTED.
      await storedTokensOf(connected.id);
      expect((await under.answer(admin, FIND, { id: connected.id })).integration).toMatchObject({
        status: 'CONNECTED',
        statusMessage: null,
      });
    });

    it('rotates keys: old tokens still open under a ring with a newer key first, are re-encrypted with it at start, and new ones sealed with it', async () => {
      const admin = adminOf();
      const before = await connect(admin, 'HUBSPOT');
      const tokens = await storedTokensOf(before.id);
      await under.restart({ INTEGRATIONS_ENCRYPTION_KEYS: `${NEW_KEY},${OLD_KEY}` });
      try {
        expect((await storedTokensOf(before.id)).accessToken).toBe(tokens.accessToken);
        await expect
          .poll(async () =>
            (await under.rows('select credentials_key_id from integrations where credentials is not null')).map(
              (row) => row.credentials_key_id,
            ),
          )
          .toEqual(expect.arrayContaining(['2026-06']));
        await expect
          .poll(
            async () =>
              (await under.rows('select count(*)::int as stale from integrations where credentials_key_id = ?', ['2026-01']))[0]!.stale,
          )
          .toBe(0);
        const after = await connect(admin, 'SLACK');
        const [row] = await under.rows('select credentials from integrations where id = ?', [after.id]);
        expect(row!.credentials).toMatch(/^v1\.2026-06\./);

        // With every value re-encrypted, the old key can leave the ring.
        await under.restart({ INTEGRATIONS_ENCRYPTION_KEYS: NEW_KEY });
        expect((await storedTokensOf(before.id)).accessToken).toBe(tokens.accessToken);
      } finally {
        await under.restart({ INTEGRATIONS_ENCRYPTION_KEYS: `${NEW_KEY},${OLD_KEY}` });
      }
    });
  });
});
