import type { IncomingMessage } from 'node:http';
import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import {
  ErrorCode,
  HttpError,
  isUuid,
  readBody,
  recordEvent,
  systemFork,
  type Database,
  type Logger,
  type RouteHandler,
  type WorkQueue,
} from '@nexusflow/kit';
import type { ProviderName, ProviderSettings } from '../domain/providers.ts';
import { Integration } from '../entities/integration.entity.ts';
import { WebhookDelivery } from '../entities/webhook-delivery.entity.ts';
import {
  verificationOf,
  verifyGraph,
  verifyHubSpot,
  verifySharedSecret,
  verifySlack,
  type InboundRequest,
  type ReceivedEvent,
  type Verdict,
} from './schemes.ts';
import type { IntegrationWebhookSecrets } from './secrets.ts';

/** Where an integration's webhook is served, on this service's own HTTP server (the gateway does not proxy it). */
const WEBHOOK_PATH = /^\/webhooks\/integrations\/([^/]+)$/;
export const webhookPath = (integrationId: string) => `/webhooks/integrations/${integrationId}`;

/** The event each accepted delivery is published as; its payload is {@link DataReceivedPayload}. */
export const DATA_RECEIVED = 'integration.data.received';

/** The queue deliveries wait on between their receipt and their event. */
export const DELIVERY_QUEUE = 'integrations.webhook-deliveries';

export interface DeliveryMessage {
  /** The WebhookDelivery row's id. */
  id: string;
}

export interface WebhookSettings {
  publicBaseUrl: string | undefined;
  localBaseUrl: string;
  maxBodyBytes: number;
  toleranceSeconds: number;
  slackSigningSecret: string | undefined;
  /** How long a delivery's id is kept to refuse repeats (see {@link WebhookDeliveries.prune}). */
  deliveryRetentionSeconds: number;
}

export interface WebhookDeliveriesOptions {
  database: Database;
  secrets: IntegrationWebhookSecrets;
  queue: WorkQueue<DeliveryMessage>;
  providers: Record<ProviderName, ProviderSettings>;
  settings: WebhookSettings;
  /** Called after a flush that recorded events, so the outbox relay publishes them now. */
  eventsRecorded: () => void;
  logger: Logger;
  now: () => number;
}

/** What a delivery is answered, once it is durably recorded (or was before). */
interface Answer {
  status: number;
  contentType: string;
  body: string;
}

const notConfigured = (variable: string) =>
  new HttpError(503, ErrorCode.ServiceUnavailable, `Deliveries cannot be verified: the deployment has not set ${variable}`);

/**
 * Deliveries of providers to integrations' webhooks: verified as each provider signs them, recorded once per delivery
 * id (a replay is answered as accepted and records nothing), answered as soon as they are recorded, and published as
 * `integration.data.received` events by the consumer of the delivery queue.
 */
export class WebhookDeliveries {
  constructor(private readonly options: WebhookDeliveriesOptions) {}

  urlOf(integrationId: string): string {
    return this.appUrlOf(webhookPath(integrationId));
  }

  /** A webhook route of this service as providers reach it. */
  appUrlOf(path: string): string {
    return new URL(path, this.options.settings.publicBaseUrl ?? this.options.settings.localBaseUrl).toString();
  }

  /** `POST /webhooks/integrations/<integration id>` on the subgraph's HTTP server. */
  route(): RouteHandler {
    return async (req, res, url) => {
      const match = WEBHOOK_PATH.exec(url.pathname);
      if (!match) return false;
      if (req.method !== 'POST') throw new HttpError(405, ErrorCode.BadRequest, 'Webhooks accept POST only', { allow: 'POST' });
      const body = await readBody(req, this.options.settings.maxBodyBytes);
      const answer = await this.receive(match[1]!, { method: req.method, url: this.calledUrl(req, url), headers: req.headers, body });
      res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body) });
      res.end(answer.body);
      return true;
    };
  }

  async receive(integrationId: string, request: InboundRequest): Promise<Answer> {
    const em = systemFork(this.options.database);
    const integration = isUuid(integrationId) ? await em.findOne(Integration, { id: integrationId, disconnectedAt: null }) : null;
    if (!integration) throw new HttpError(404, ErrorCode.NotFound, 'No webhook here');
    const verdict = await this.verify(integration, request);
    if (verdict.kind === 'answer') return { status: 200, contentType: verdict.contentType, body: verdict.body };
    const recorded = await this.record(integration, verdict);
    await this.enqueue(recorded);
    const provider = integration.provider as ProviderName;
    // Graph wants 202 Accepted; the others take any 2xx.
    return {
      status: verificationOf(provider) === 'MICROSOFT_GRAPH_CLIENT_STATE' ? 202 : 200,
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify({ received: verdict.events.length, new: recorded.length }),
    };
  }

  /**
   * Records the events of a delivery verified elsewhere (an app-level webhook, a Gmail push) for one integration, once
   * per delivery id, and queues them; returns how many were new.
   */
  async accept(integration: Integration, events: ReceivedEvent[]): Promise<number> {
    const recorded = await this.record(integration, { kind: 'events', events });
    await this.enqueue(recorded);
    return recorded.length;
  }

  /** Publishes a recorded delivery's event, once however often it is handed out. */
  async process({ id }: DeliveryMessage): Promise<void> {
    const published = await systemFork(this.options.database).transactional(async (em) => {
      const delivery = await em.findOne(WebhookDelivery, { id, processedAt: null });
      if (!delivery) return false;
      const claimed = await em.nativeUpdate(WebhookDelivery, { id, processedAt: null }, { processedAt: new Date(this.options.now()) });
      if (claimed === 0) return false;
      recordEvent(em, { type: DATA_RECEIVED, tenantId: delivery.tenantId, payload: delivery.event }, new Date(this.options.now()));
      return true;
    });
    if (published) this.options.eventsRecorded();
  }

  /** Queues again what was recorded and not yet published: after a restart, or when the broker is back. */
  async resendPending(): Promise<number> {
    const pending = await systemFork(this.options.database).find(WebhookDelivery, { processedAt: null }, { fields: ['id'], limit: 1000 });
    await this.enqueue(pending.map((delivery) => delivery.id));
    return pending.length;
  }

  /** The URL HubSpot called, which it signs: behind a proxy the public base URL says where that is. */
  private calledUrl(req: IncomingMessage, url: URL): URL {
    const base = this.options.settings.publicBaseUrl ?? `http://${req.headers.host ?? 'localhost'}`;
    return new URL(`${url.pathname}${url.search}`, base);
  }

  private async verify(integration: Integration, request: InboundRequest): Promise<Verdict> {
    const { settings, providers, now } = this.options;
    const provider = integration.provider as ProviderName;
    switch (verificationOf(provider)) {
      case 'SLACK_SIGNATURE':
        if (!settings.slackSigningSecret) throw notConfigured('INTEGRATIONS_SLACK_SIGNING_SECRET');
        return verifySlack(request, settings.slackSigningSecret, now(), settings.toleranceSeconds);
      case 'HUBSPOT_SIGNATURE_V3': {
        const credentials = providers[provider].credentials;
        if (!credentials) throw notConfigured('INTEGRATIONS_HUBSPOT_CLIENT_SECRET');
        return verifyHubSpot(request, credentials.clientSecret, now(), settings.toleranceSeconds);
      }
      case 'MICROSOFT_GRAPH_CLIENT_STATE':
        return this.verifiedByAny(integration, (secret) => verifyGraph(request, secret));
      case 'SHARED_SECRET':
        return this.verifiedByAny(integration, (secret) => verifySharedSecret(request, secret));
    }
  }

  /**
   * Verified with the integration's secret, or with the one before while its rotation's grace lasts: a refusal by the
   * first is tried with the second, and the last refusal is the answer.
   */
  private async verifiedByAny(integration: Integration, verify: (secret: string | undefined) => Verdict): Promise<Verdict> {
    const [current, ...previous] = await this.options.secrets.acceptedSecretsOf(systemFork(this.options.database), integration.id);
    try {
      return verify(current);
    } catch (error) {
      const stillAccepted = previous[0];
      if (stillAccepted === undefined || !(error instanceof HttpError) || error.status !== 401) throw error;
      return verify(stillAccepted);
    }
  }

  /**
   * Forgets the delivery ids that arrived more than the retention ago and were published: a repeat of one after that
   * would be taken as new. Signed deliveries (Slack, HubSpot) that old are refused as stale anyway; returns how many.
   */
  async prune(batchSize = 1000): Promise<number> {
    const em = systemFork(this.options.database);
    const cutoff = new Date(this.options.now() - this.options.settings.deliveryRetentionSeconds * 1000);
    let pruned = 0;
    for (;;) {
      const old = await em.find(
        WebhookDelivery,
        { createdAt: { $lt: cutoff }, processedAt: { $ne: null } },
        { fields: ['id'], limit: batchSize },
      );
      if (old.length === 0) return pruned;
      pruned += await em.nativeDelete(WebhookDelivery, { id: { $in: old.map((delivery) => delivery.id) } });
      em.clear();
    }
  }

  /** Records the events not seen before, in one transaction; returns the ids of the rows made. */
  private async record(integration: Integration, verdict: Extract<Verdict, { kind: 'events' }>): Promise<string[]> {
    const receivedAt = new Date(this.options.now()).toISOString();
    const unique = [...new Map(verdict.events.map((event) => [event.deliveryId, event])).values()];
    if (unique.length === 0) return [];
    // Two copies of a delivery arriving at once: the second to commit breaks the unique key, and finds the first's rows.
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await systemFork(this.options.database).transactional(async (em) => {
          const seen = await em.find(
            WebhookDelivery,
            { integrationId: integration.id, deliveryId: { $in: unique.map((event) => event.deliveryId) } },
            { fields: ['deliveryId'] },
          );
          const seenIds = new Set(seen.map((delivery) => delivery.deliveryId));
          return unique
            .filter((event) => !seenIds.has(event.deliveryId))
            .map(
              (event) =>
                em.create(WebhookDelivery, {
                  // On the service's clock, as the retention that prunes it is.
                  createdAt: new Date(receivedAt),
                  tenantId: integration.tenantId,
                  integrationId: integration.id,
                  deliveryId: event.deliveryId,
                  event: { provider: integration.provider, integrationId: integration.id, ...event, receivedAt },
                  processedAt: null,
                }).id,
            );
        });
      } catch (error) {
        if (!(error instanceof UniqueConstraintViolationException) || attempt === 2) throw error;
      }
    }
  }

  /**
   * Queued without waiting for a broker that is away: the deliveries are recorded already, and {@link resendPending}
   * queues them once it is back, so the provider is answered at once either way.
   */
  private async enqueue(ids: readonly string[]): Promise<void> {
    try {
      await Promise.all(ids.map((id) => this.options.queue.enqueue({ id }, { waitForReconnection: false })));
    } catch (error) {
      this.options.logger.warn(
        { err: error, count: ids.length },
        'webhook deliveries recorded but not queued; queued when the broker is back',
      );
    }
  }
}
