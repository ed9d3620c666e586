import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InteractionResults } from 'oidc-provider';
import { z } from 'zod';
import { readBody, sendJson, systemFork, type Database, type RouteHandler } from '@nexusflow/kit';
import { OAuthClient } from '../entities/oauth-client.entity.ts';
import { OAuthConsent } from '../entities/oauth-consent.entity.ts';
import { INTERACTION_PREFIX, type AuthorizationServer } from './authorization-server.ts';
import type { CosUser, CosUsers } from './cos-users.ts';

type Details = Awaited<ReturnType<Awaited<ReturnType<AuthorizationServer['provider']>>['interactionDetails']>>;

const decisionSchema = z.object({ approve: z.boolean() });

function oauthError(res: ServerResponse, status: number, error: string, description: string, headers: Record<string, string> = {}): true {
  sendJson(res, status, { error, error_description: description }, { 'cache-control': 'no-store', ...headers });
  return true;
}

const requestedScopes = (details: Details) =>
  (typeof details.params.scope === 'string' ? details.params.scope : '').split(' ').filter(Boolean);

/**
 * The end-user step of the authorization code flow. The provider sends the user agent to
 * `/oauth/interaction/<uid>`, where the COS front end, holding the user's COS access token (auth-service's login),
 * calls with `Authorization: Bearer <token>`: GET says which app asks for what, POST `{ "approve": true|false }`
 * signs the user in for this authorization and records their consent per user and client, answering where the user
 * agent goes next (`redirectTo`: back to the provider, which redirects to the app with a code or an error). No password
 * reaches this service: the token is checked against token-mgr's JWKS as backend-api checks it.
 */
export class AuthorizationInteraction {
  constructor(
    private readonly server: AuthorizationServer,
    private readonly database: Database,
    private readonly cosUsers: CosUsers,
    private readonly now: () => Date,
  ) {}

  route(): RouteHandler {
    return async (req, res, url) => {
      if (!url.pathname.startsWith(INTERACTION_PREFIX)) return false;
      if (req.method !== 'GET' && req.method !== 'POST') {
        return oauthError(res, 405, 'invalid_request', 'GET or POST', { allow: 'GET, POST' });
      }
      const user = await this.cosUsers.authenticate(req);
      if (!user) {
        return oauthError(res, 401, 'invalid_token', 'A valid COS access token is required', {
          'www-authenticate': 'Bearer error="invalid_token"',
        });
      }
      const provider = await this.server.provider();
      let details: Details;
      try {
        details = await provider.interactionDetails(req, res);
      } catch {
        return oauthError(res, 400, 'invalid_request', 'No authorization in progress in this user agent');
      }
      if (details.uid !== url.pathname.slice(INTERACTION_PREFIX.length)) {
        return oauthError(res, 400, 'invalid_request', 'This is not the authorization in progress in this user agent');
      }
      const em = systemFork(this.database);
      const clientId = String(details.params.client_id);
      const client = await em.findOne(OAuthClient, { id: clientId });
      if (!client) return oauthError(res, 400, 'invalid_client', 'The app is no longer registered');
      if (req.method === 'GET') {
        const consent = await em.findOne(OAuthConsent, { userId: user.userId, clientId });
        const scopes = requestedScopes(details);
        sendJson(
          res,
          200,
          {
            uid: details.uid,
            client: { id: client.id, name: client.name },
            scopes,
            consented: !!consent && scopes.every((scope) => consent.scopes.includes(scope)),
            allowed: client.tenantId === user.tenantId,
          },
          { 'cache-control': 'no-store' },
        );
        return true;
      }
      const decision = decisionSchema.safeParse(await this.readJson(req));
      if (!decision.success) return oauthError(res, 400, 'invalid_request', 'The body must be {"approve": true or false}');
      const result = await this.decide(details, client, user, decision.data.approve);
      if (result.login && details.session?.accountId && details.session.accountId !== user.userId) {
        await this.endEarlierSignIn(provider, details);
      }
      const redirectTo = await provider.interactionResult(req, res, result, { mergeWithLastSubmission: false });
      sendJson(res, 200, { redirectTo }, { 'cache-control': 'no-store' });
      return true;
    };
  }

  /**
   * This user agent was signed in to the provider as another user before (a shared browser, the other signed out of
   * COS since): that sign-in ends here, so that this user's takes its place. The library would stop to ask for a
   * sign-out first, a step COS does not serve: the COS token already says who is here.
   */
  private async endEarlierSignIn(provider: Awaited<ReturnType<AuthorizationServer['provider']>>, details: Details): Promise<void> {
    const earlier = details.session?.uid ? await provider.Session.findByUid(details.session.uid) : undefined;
    await earlier?.destroy();
    details.session = undefined;
    await details.save(details.exp - Math.floor(Date.now() / 1000));
  }

  private async readJson(req: IncomingMessage): Promise<unknown> {
    try {
      return JSON.parse((await readBody(req, 16 * 1024)).toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  }

  /**
   * An app is authorized by users of the organisation that registered it only. An approval reuses the grant of the
   * user's earlier consent to this app when it still stands, widened to the scopes asked now.
   */
  private async decide(details: Details, client: OAuthClient, user: CosUser, approve: boolean): Promise<InteractionResults> {
    if (client.tenantId !== user.tenantId) {
      return { error: 'access_denied', error_description: 'Only users of the organisation that registered this app can authorize it' };
    }
    if (!approve) return { error: 'access_denied', error_description: 'The user declined to authorize this app' };
    const provider = await this.server.provider();
    const em = systemFork(this.database);
    const scopes = requestedScopes(details);
    const consent = await em.findOne(OAuthConsent, { userId: user.userId, clientId: client.id });
    const earlier = consent ? await provider.Grant.find(consent.grantId) : undefined;
    const grant = earlier?.accountId === user.userId ? earlier : new provider.Grant({ accountId: user.userId, clientId: client.id });
    grant.addOIDCScope(scopes.join(' '));
    const grantId = await grant.save();
    const granted = [...new Set([...(consent?.scopes ?? []), ...scopes])];
    if (consent) Object.assign(consent, { scopes: granted, grantId, grantedAt: this.now() });
    else
      em.create(OAuthConsent, {
        tenantId: user.tenantId,
        userId: user.userId,
        clientId: client.id,
        scopes: granted,
        grantId,
        grantedAt: this.now(),
      });
    await em.flush();
    return { login: { accountId: user.userId }, consent: { grantId } };
  }
}
