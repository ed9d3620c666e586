import { ErrorCode, HttpError, readBody, systemFork, type Database, type Logger, type RouteHandler } from '@nexusflow/kit';
import type { ProviderName, ProviderSettings } from '../domain/providers.ts';
import { Integration } from '../entities/integration.entity.ts';
import type { WebhookDeliveries, WebhookSettings } from './deliveries.ts';
import { verifyHubSpot, verifySlack, type InboundRequest, type ReceivedEvent, type Verdict } from './schemes.ts';

/** Slack's Events API Request URL and HubSpot's app webhook target URL: one each for every installation of the app. */
export const SLACK_APP_PATH = '/webhooks/apps/slack';
export const HUBSPOT_APP_PATH = '/webhooks/apps/hubspot';

export interface AppWebhooksOptions {
  database: Database;
  deliveries: WebhookDeliveries;
  providers: Readonly<Record<ProviderName, ProviderSettings>>;
  settings: WebhookSettings;
  logger: Logger;
  now: () => number;
}

const notConfigured = (variable: string) =>
  new HttpError(503, ErrorCode.ServiceUnavailable, `Deliveries cannot be verified: the deployment has not set ${variable}`);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const accountOf = (value: unknown): string | null => (typeof value === 'string' || typeof value === 'number' ? String(value) : null);

/**
 * The app-level webhooks: Slack's Events API and HubSpot's app webhooks send every installation's events to one URL,
 * signed with the app's secret. Each event goes to the integrations connected to the account it names (Slack's
 * `team_id`, HubSpot's `portalId`, recorded on connecting); events of an account no integration has are dropped with a
 * warning and still answered 200, since a provider sends again whatever is not answered 2xx.
 */
export class AppWebhooks {
  constructor(private readonly options: AppWebhooksOptions) {}

  route(): RouteHandler {
    return async (req, res, url) => {
      const provider = url.pathname === SLACK_APP_PATH ? 'SLACK' : url.pathname === HUBSPOT_APP_PATH ? 'HUBSPOT' : null;
      if (!provider) return false;
      if (req.method !== 'POST') throw new HttpError(405, ErrorCode.BadRequest, 'Webhooks accept POST only', { allow: 'POST' });
      const body = await readBody(req, this.options.settings.maxBodyBytes);
      // HubSpot signs the URL it called: behind a proxy the public base URL says where that is.
      const calledUrl = new URL(
        `${url.pathname}${url.search}`,
        this.options.settings.publicBaseUrl ?? `http://${req.headers.host ?? 'localhost'}`,
      );
      const answer = await this.receive(provider, { method: req.method, url: calledUrl, headers: req.headers, body });
      res.writeHead(200, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body) });
      res.end(answer.body);
      return true;
    };
  }

  private async receive(provider: 'SLACK' | 'HUBSPOT', request: InboundRequest): Promise<{ contentType: string; body: string }> {
    const verdict = this.verify(provider, request);
    if (verdict.kind === 'answer') return verdict;
    const byAccount = new Map<string, ReceivedEvent[]>();
    for (const event of verdict.events) {
      const data = isRecord(event.data) ? event.data : {};
      const account = accountOf(provider === 'SLACK' ? data.teamId : data.portalId);
      if (account === null) continue;
      byAccount.set(account, [...(byAccount.get(account) ?? []), event]);
    }
    const integrations =
      byAccount.size === 0
        ? []
        : await systemFork(this.options.database).find(Integration, {
            provider,
            accountId: { $in: [...byAccount.keys()] },
            disconnectedAt: null,
          });
    let recorded = 0;
    for (const [account, events] of byAccount) {
      const targets = integrations.filter((integration) => integration.accountId === account);
      if (targets.length === 0) {
        this.options.logger.warn(
          { provider, account, events: events.length },
          'app webhook events for an account no integration has were dropped',
        );
      }
      for (const integration of targets) recorded += await this.options.deliveries.accept(integration, events);
    }
    return { contentType: 'application/json; charset=utf-8', body: JSON.stringify({ received: verdict.events.length, new: recorded }) };
  }

  private verify(provider: 'SLACK' | 'HUBSPOT', request: InboundRequest): Verdict {
    const { settings, providers, now } = this.options;
    if (provider === 'SLACK') {
      if (!settings.slackSigningSecret) throw notConfigured('INTEGRATIONS_SLACK_SIGNING_SECRET');
      return verifySlack(request, settings.slackSigningSecret, now(), settings.toleranceSeconds);
    }
    const credentials = providers.HUBSPOT.credentials;
    if (!credentials) throw notConfigured('INTEGRATIONS_HUBSPOT_CLIENT_SECRET');
    return verifyHubSpot(request, credentials.clientSecret, now(), settings.toleranceSeconds);
  }
}
