import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { FakeGoogle, FakeMicrosoft, json, type FakeMail, type Received, type Reply } from './fake-providers.ts';
import { listenOnLoopback, type LoopbackServer } from '@nexusflow/kit/testing';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/** A Graph change-notification subscription, as the fake keeps it. */
export interface FakeGraphSubscription {
  id: string;
  changeType: string;
  resource: string;
  notificationUrl: string;
  clientState: string | undefined;
  expirationDateTime: Date;
}

/** What a notification or push was answered. */
export interface Answered {
  status: number;
  body: string;
}

const graphError = (status: number, code: string, message: string) => json(status, { error: { code, message } });

/**
 * Microsoft Graph's change notifications for Outlook mail, on top of the Teams and Outlook fake
 * (learn.microsoft.com/graph/api/subscription-post-subscriptions): `POST /v1.0/subscriptions` validates the
 * notification URL first (a POST of `?validationToken=` that must be echoed as text/plain with 200 within 10 s,
 * otherwise 400 `ValidationError`) and refuses an expiry past 4230 minutes for messages; `PATCH` renews and `DELETE`
 * removes (404 `ResourceNotFound` for one it does not know). {@link receiveMail} puts a message in the inbox and
 * notifies each live subscription as Graph does: `{"value": [{subscriptionId, changeType, resource, resourceData,
 * clientState, …}]}`, wanting 2xx.
 */
export class FakeGraphMail extends FakeMicrosoft {
  static readonly MAX_MESSAGE_SUBSCRIPTION_MINUTES = 4230;
  readonly subscriptions = new Map<string, FakeGraphSubscription>();
  /** Every subscription ever made, in order, including those since deleted. */
  readonly created: FakeGraphSubscription[] = [];
  /** Each validation request sent and whether its answer passed. */
  readonly validations: { notificationUrl: string; passed: boolean }[] = [];
  readonly renewals: { id: string; expirationDateTime: Date }[] = [];
  readonly deleted: string[] = [];
  readonly tenantId = '84bd8158-6d4d-4958-8b9f-9d6445542f95';

  /** `now`: the fake's clock, shared with the service's in tests that move time. */
  constructor(
    clientId: string,
    clientSecret: string,
    private readonly now: () => number = Date.now,
  ) {
    super(clientId, clientSecret);
  }

  /** A new message in the inbox, and each live subscription to it notified; what each notification was answered. */
  async receiveMail(mail: FakeMail): Promise<Answered[]> {
    this.mailbox.push(mail);
    const live = [...this.subscriptions.values()].filter(
      (subscription) => subscription.expirationDateTime.getTime() > this.now() && subscription.resource.toLowerCase().includes('inbox'),
    );
    return Promise.all(live.map((subscription) => this.notify(subscription, mail.id)));
  }

  /** Sends a subscription's notification of a message, as Graph does, with the clientState it was given (or another). */
  async notify(subscription: FakeGraphSubscription, messageId: string, clientState = subscription.clientState): Promise<Answered> {
    const odataId = `Users/ada@example.com/Messages/${messageId}`;
    const notification = {
      subscriptionId: subscription.id,
      subscriptionExpirationDateTime: subscription.expirationDateTime.toISOString(),
      changeType: 'created',
      resource: odataId,
      resourceData: { '@odata.type': '#Microsoft.Graph.Message', '@odata.id': odataId, '@odata.etag': 'W/"CQAAABYAAAA"', id: messageId },
      clientState,
      tenantId: this.tenantId,
    };
    const response = await fetch(subscription.notificationUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: [notification] }),
    });
    return { status: response.status, body: await response.text() };
  }

  protected override route(request: Received): Reply | Promise<Reply> {
    const { method, path } = request;
    const one = /^\/v1\.0\/subscriptions\/([^/]+)$/.exec(path);
    if (path !== '/v1.0/subscriptions' && !one) return super.route(request);
    if (!this.bearerOf(request)) {
      return graphError(401, 'InvalidAuthenticationToken', 'Access token has expired or is not yet valid.');
    }
    const answer = this.nextAnswers.shift();
    if (answer) return answer;
    if (method === 'POST' && !one) return this.subscribe(request);
    const subscription = one ? this.subscriptions.get(decodeURIComponent(one[1]!)) : undefined;
    if (!subscription) return graphError(404, 'ResourceNotFound', `The object was not found: ${path}`);
    if (method === 'PATCH') {
      const { expirationDateTime } = JSON.parse(request.body) as { expirationDateTime?: string };
      const refusal = this.expiryRefusal(expirationDateTime);
      if (refusal) return refusal;
      subscription.expirationDateTime = new Date(expirationDateTime!);
      this.renewals.push({ id: subscription.id, expirationDateTime: subscription.expirationDateTime });
      return json(200, this.subscriptionView(subscription));
    }
    if (method === 'DELETE') {
      this.subscriptions.delete(subscription.id);
      this.deleted.push(subscription.id);
      return { status: 204 };
    }
    return graphError(405, 'BadRequest', `${method} is not allowed here`);
  }

  private async subscribe(request: Received): Promise<Reply> {
    const asked = JSON.parse(request.body) as Partial<
      Record<'changeType' | 'notificationUrl' | 'resource' | 'expirationDateTime' | 'clientState', string>
    >;
    if (!asked.changeType || !asked.notificationUrl || !asked.resource || !asked.expirationDateTime) {
      return graphError(400, 'InvalidRequest', 'changeType, notificationUrl, resource and expirationDateTime are required');
    }
    const refusal = this.expiryRefusal(asked.expirationDateTime);
    if (refusal) return refusal;
    const validationToken = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
    const passed = await this.validate(asked.notificationUrl, validationToken);
    this.validations.push({ notificationUrl: asked.notificationUrl, passed });
    if (!passed) {
      return graphError(
        400,
        'ValidationError',
        'Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.',
      );
    }
    const subscription: FakeGraphSubscription = {
      id: randomUUID(),
      changeType: asked.changeType,
      resource: asked.resource,
      notificationUrl: asked.notificationUrl,
      clientState: asked.clientState,
      expirationDateTime: new Date(asked.expirationDateTime),
    };
    this.subscriptions.set(subscription.id, subscription);
    this.created.push(subscription);
    return json(201, this.subscriptionView(subscription));
  }

  private async validate(notificationUrl: string, validationToken: string): Promise<boolean> {
    const url = new URL(notificationUrl);
    url.searchParams.set('validationToken', validationToken);
    try {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, signal: AbortSignal.timeout(10_000) });
      return (
        response.status === 200 &&
        response.headers.get('content-type')?.startsWith('text/plain') === true &&
        (await response.text()) === validationToken
      );
    } catch {
      return false;
    }
  }

  private expiryRefusal(expirationDateTime: string | undefined): Reply | undefined {
    const expiry = Date.parse(expirationDateTime ?? '');
    if (Number.isNaN(expiry) || expiry <= this.now()) {
      return graphError(400, 'InvalidRequest', 'Subscription expiration must be in the future');
    }
    if (expiry > this.now() + FakeGraphMail.MAX_MESSAGE_SUBSCRIPTION_MINUTES * MINUTE_MS) {
      return graphError(400, 'InvalidRequest', 'Subscription expiration can only be 4230 minutes in the future.');
    }
    return undefined;
  }

  private subscriptionView(subscription: FakeGraphSubscription) {
    return {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity',
      id: subscription.id,
      resource: subscription.resource,
      applicationId: '24d3b144-21ae-4080-943f-7067b395b913',
      changeType: subscription.changeType,
      clientState: subscription.clientState ?? null,
      notificationUrl: subscription.notificationUrl,
      expirationDateTime: subscription.expirationDateTime.toISOString(),
      creatorId: '8ee44408-0679-472c-bc2a-692812af3437',
    };
  }
}

/** A push subscription of the fake Pub/Sub: where it pushes, and the OIDC token it attaches. */
export interface PushSubscription {
  name: string;
  topic: string;
  endpoint: string;
  audience: string;
  serviceAccountEmail: string;
}

/** A push as sent, kept so that a test can have Pub/Sub send it again (at-least-once delivery). */
export interface SentPush {
  subscription: PushSubscription;
  envelope: {
    message: { data: string; messageId: string; message_id: string; publishTime: string; publish_time: string };
    subscription: string;
  };
}

/**
 * Google Cloud Pub/Sub's authenticated push (cloud.google.com/pubsub/docs/push): a message published to a topic is
 * POSTed to each push subscription's endpoint as `{"message": {"data": <base64>, "messageId", "publishTime"},
 * "subscription"}` with `Authorization: Bearer <OIDC token>`, an RS256 JWT for the subscription's audience and service
 * account, signed with a key of the fake's own whose JWKS it serves at `/oauth2/v3/certs` (Google's keys are at
 * www.googleapis.com/oauth2/v3/certs).
 */
export class FakePubSub {
  private server: LoopbackServer | undefined;
  private keys: { privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; publicJwk: JWK } | undefined;
  private readonly keyId = `fake-google-${randomUUID().slice(0, 8)}`;
  private nextMessageId = 9_000_000_000_000_000;
  readonly subscriptions: PushSubscription[] = [];
  readonly sent: SentPush[] = [];
  origin = '';

  constructor(private readonly now: () => number = Date.now) {}

  get jwksUrl(): string {
    return `${this.origin}/oauth2/v3/certs`;
  }

  async start(): Promise<this> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    this.keys = { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid: this.keyId, alg: 'RS256', use: 'sig' } };
    this.server = await listenOnLoopback((request, response) => {
      const body =
        request.url === '/oauth2/v3/certs' ? JSON.stringify({ keys: [this.keys!.publicJwk] }) : JSON.stringify({ error: 'not found' });
      response.writeHead(request.url === '/oauth2/v3/certs' ? 200 : 404, { 'content-type': 'application/json' });
      response.end(body);
    });
    this.origin = this.server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  /** Publishes to a topic: pushed to each of its push subscriptions at once; what each endpoint answered. */
  async publish(topic: string, data: unknown): Promise<Answered[]> {
    const messageId = String((this.nextMessageId += 1));
    const publishTime = new Date(this.now()).toISOString();
    const encoded = Buffer.from(JSON.stringify(data)).toString('base64');
    const pushes = this.subscriptions
      .filter((subscription) => subscription.topic === topic)
      .map((subscription) => ({
        subscription,
        envelope: {
          message: { data: encoded, messageId, message_id: messageId, publishTime, publish_time: publishTime },
          subscription: subscription.name,
        },
      }));
    this.sent.push(...pushes);
    return Promise.all(pushes.map((push) => this.push(push)));
  }

  /** Sends a push (again), with a token as Pub/Sub signs it, or with the `authorization` header given. */
  async push(sent: SentPush, authorization?: string | null): Promise<Answered> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const bearer = authorization === undefined ? `Bearer ${await this.token(sent.subscription)}` : authorization;
    if (bearer !== null) headers.authorization = bearer;
    const response = await fetch(sent.subscription.endpoint, { method: 'POST', headers, body: JSON.stringify(sent.envelope) });
    return { status: response.status, body: await response.text() };
  }

  /** The OIDC token Pub/Sub attaches for a push subscription; `claims` override its own. */
  async token(subscription: PushSubscription, claims: Record<string, unknown> = {}): Promise<string> {
    const issuedAt = Math.floor(this.now() / 1000);
    return new SignJWT({ email: subscription.serviceAccountEmail, email_verified: true, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: this.keyId, typ: 'JWT' })
      .setIssuer('https://accounts.google.com')
      .setAudience(subscription.audience)
      .setSubject('113771985417357486051')
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 3600)
      .sign(this.keys!.privateKey);
  }
}

/** A history record of the fake mailbox: a message added. */
interface HistoryRecord {
  id: number;
  mail: FakeMail;
}

/**
 * Gmail's push notifications on top of the Gmail fake (developers.google.com/workspace/gmail/api/guides/push):
 * `users.getProfile`, `users.watch` (the topic must be one the fake Pub/Sub has, else 400 as Gmail answers when it
 * cannot publish; answers `{historyId, expiration}` 7 days on), `users.stop` (204), and `users.history.list` with
 * `startHistoryId`, `historyTypes`, `labelId` and `pageToken` (404 for a start older than the history kept). Each
 * {@link receiveMail} adds a history record and, while watched, publishes `{emailAddress, historyId}` to the topic.
 */
export class FakeGmail extends FakeGoogle {
  static readonly WATCH_DAYS = 7;
  readonly emailAddress = 'ops@acme.example';
  private historyId = 4_200_000;
  private readonly history: HistoryRecord[] = [];
  /** History before this is forgotten: a start older than it is answered 404. */
  oldestHistoryId = 1;
  historyPageSize = 100;
  /** The watch in place, if any. */
  watching: { topicName: string; expiration: Date } | undefined;
  readonly watches: { topicName: string; expiration: Date }[] = [];
  stops = 0;

  constructor(
    clientId: string,
    clientSecret: string,
    private readonly pubsub: FakePubSub,
    private readonly topics: ReadonlySet<string>,
    private readonly now: () => number = Date.now,
  ) {
    super(clientId, clientSecret);
  }

  /** A new message in the inbox; published to the watch's topic while watched. What each push was answered. */
  async receiveMail(mail: FakeMail): Promise<Answered[]> {
    this.mailbox.push(mail);
    this.historyId += 7;
    this.history.push({ id: this.historyId, mail });
    if (!this.watching || this.watching.expiration.getTime() <= this.now()) return [];
    return this.pubsub.publish(this.watching.topicName, { emailAddress: this.emailAddress, historyId: this.historyId });
  }

  protected override route(request: Received): Reply | Promise<Reply> {
    const { method, path, query } = request;
    const mine = ['/gmail/v1/users/me/profile', '/gmail/v1/users/me/watch', '/gmail/v1/users/me/stop', '/gmail/v1/users/me/history'];
    if (!mine.includes(path)) return super.route(request);
    const googleError = (code: number, status: string, message: string) =>
      json(code, { error: { code, message, status, errors: [{ message, reason: status }] } });
    if (!this.bearerOf(request)) return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    const answer = this.nextAnswers.shift();
    if (answer) return answer;
    if (method === 'GET' && path.endsWith('/profile')) {
      return json(200, {
        emailAddress: this.emailAddress,
        messagesTotal: this.mailbox.length,
        threadsTotal: this.mailbox.length,
        historyId: String(this.historyId),
      });
    }
    if (method === 'POST' && path.endsWith('/watch')) {
      const { topicName } = JSON.parse(request.body || '{}') as { topicName?: string };
      if (!topicName || !this.topics.has(topicName)) {
        return googleError(
          400,
          'INVALID_ARGUMENT',
          `Invalid topicName does not match projects/SOME_ANDROID_PROJECT/topics/*: ${topicName}`,
        );
      }
      this.watching = { topicName, expiration: new Date(this.now() + FakeGmail.WATCH_DAYS * DAY_MS) };
      this.watches.push(this.watching);
      return json(200, { historyId: String(this.historyId), expiration: String(this.watching.expiration.getTime()) });
    }
    if (method === 'POST' && path.endsWith('/stop')) {
      this.watching = undefined;
      this.stops += 1;
      return { status: 204 };
    }
    if (method === 'GET' && path.endsWith('/history')) return this.historyList(query, googleError);
    return googleError(404, 'NOT_FOUND', `no route ${method} ${path}`);
  }

  private historyList(query: URLSearchParams, googleError: (code: number, status: string, message: string) => Reply): Reply {
    const start = Number(query.get('startHistoryId'));
    if (!Number.isInteger(start) || start <= 0) return googleError(400, 'INVALID_ARGUMENT', 'Invalid startHistoryId');
    if (start < this.oldestHistoryId) return googleError(404, 'NOT_FOUND', 'Requested entity was not found.');
    const onlyAdded = query.get('historyTypes');
    if (onlyAdded !== null && onlyAdded !== 'messageAdded') return googleError(400, 'INVALID_ARGUMENT', 'Invalid historyTypes');
    const after = this.history.filter((record) => record.id > start);
    const offset = Number(query.get('pageToken') ?? 0);
    const page = after.slice(offset, offset + this.historyPageSize);
    const more = offset + this.historyPageSize < after.length;
    return json(200, {
      ...(page.length > 0
        ? {
            history: page.map((record) => ({
              id: String(record.id),
              messages: [{ id: record.mail.id, threadId: record.mail.threadId }],
              messagesAdded: [{ message: { id: record.mail.id, threadId: record.mail.threadId, labelIds: ['INBOX', 'UNREAD'] } }],
            })),
          }
        : {}),
      historyId: String(this.historyId),
      ...(more ? { nextPageToken: String(offset + this.historyPageSize) } : {}),
    });
  }
}
