import { randomBytes } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, type LoopbackServer } from '@nexusflow/kit/testing';

interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON; no body at all when undefined. */
  body?: unknown;
}

/**
 * What the three vendor fakes share: a real HTTP server on a free local port, failures injected ahead of
 * any checks (a vendor outage does not look at credentials), and a path that never answers.
 */
abstract class FakeVendor {
  private server: LoopbackServer | undefined;
  private failures = { remaining: 0, status: 503 };
  url = '';

  /** A base URL under which every request is held unanswered until {@link close}, like a vendor that hangs. */
  get hangingUrl(): string {
    return `${this.url}/hang`;
  }

  /** Answers the next `count` requests with `status` and the vendor's error body, whatever they carry. */
  failNext(count: number, status = 503): this {
    this.failures = { remaining: count, status };
    return this;
  }

  async start(): Promise<this> {
    this.server = await listenOnLoopback((req, res) => void this.receive(req, res));
    this.url = this.server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  protected abstract handle(request: ReceivedRequest): FakeResponse;

  protected abstract errorBody(status: number, message: string): unknown;

  private async receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/hang' || path.startsWith('/hang/')) return;
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const request: ReceivedRequest = {
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    let response: FakeResponse;
    if (this.failures.remaining > 0) {
      this.failures.remaining -= 1;
      const status = this.failures.status;
      response = {
        status,
        body: this.errorBody(status, STATUS_CODES[status] ?? 'Error'),
        headers: status === 429 ? { 'retry-after': '1' } : {},
      };
    } else {
      try {
        response = this.handle(request);
      } catch {
        // A malformed request the checks did not foresee (say, a bad percent-escape) must not crash the test run.
        response = { status: 500, body: this.errorBody(500, 'Internal Server Error') };
      }
    }
    const payload = response.body === undefined ? '' : JSON.stringify(response.body);
    res.writeHead(response.status, {
      ...(payload ? { 'content-type': 'application/json' } : {}),
      'content-length': Buffer.byteLength(payload),
      ...response.headers,
    });
    res.end(payload);
  }
}

export interface SendGridCredentials {
  apiKey: string;
}

export interface AcceptedEmail {
  messageId: string;
  to: string;
  from: string;
  subject: string;
  body: string;
  idempotencyKey: string | undefined;
}

/** The `token` of the first link in an email, as the person clicking it would send it on. */
export function tokenInLink(email: AcceptedEmail): string {
  const link = /https?:\/\/\S+/.exec(email.body)?.[0];
  const token = link && new URL(link).searchParams.get('token');
  if (!token) throw new Error(`no link with a token in: ${email.subject}`);
  return token;
}

/** SendGrid's v3 Mail Send (`POST /v3/mail/send`): 202 with an `x-message-id` header and no body. */
export class FakeSendGrid extends FakeVendor {
  /** One entry per recipient, as SendGrid delivers one email to each. */
  readonly accepted: AcceptedEmail[] = [];

  constructor(private readonly credentials: SendGridCredentials) {
    super();
  }

  protected handle(request: ReceivedRequest): FakeResponse {
    if (request.path !== '/v3/mail/send') return this.error(404, 'Not Found');
    if (request.method !== 'POST') return this.error(405, 'Method Not Allowed');
    if (request.headers.authorization !== `Bearer ${this.credentials.apiKey}`) {
      return this.error(401, 'The provided authorization grant is invalid, expired, or revoked');
    }
    const mail = parseJson(request.body);
    if (!isObject(mail)) return this.error(400, 'Bad Request');
    const personalizations = Array.isArray(mail.personalizations) ? mail.personalizations.filter(isObject) : [];
    const recipients = personalizations
      .flatMap((p) => (Array.isArray(p.to) ? p.to : []))
      .map((to) => (isObject(to) ? to.email : undefined));
    const from = isObject(mail.from) ? mail.from.email : undefined;
    const content = Array.isArray(mail.content) ? mail.content.filter(isObject) : [];
    const text = content.find((block) => block.type === 'text/plain')?.value ?? content[0]?.value;
    const problems: { message: string; field: string }[] = [];
    if (personalizations.length === 0) {
      problems.push({
        field: 'personalizations',
        message: 'The personalizations field is required and must have at least one personalization.',
      });
    } else if (recipients.length === 0 || !recipients.every(isNonEmptyString)) {
      problems.push({
        field: 'personalizations.0.to',
        message:
          'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
      });
    }
    if (!isNonEmptyString(from)) {
      problems.push({
        field: 'from.email',
        message: 'The from object must be provided for every email send. It is an object that requires the email parameter.',
      });
    }
    if (!isNonEmptyString(mail.subject) && !personalizations.every((p) => isNonEmptyString(p.subject))) {
      problems.push({
        field: 'subject',
        message:
          'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
      });
    }
    if (!isNonEmptyString(text)) {
      problems.push({
        field: 'content',
        message:
          'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.',
      });
    }
    if (problems.length > 0) return { status: 400, body: { errors: problems.map((problem) => ({ ...problem, help: null })) } };

    const messageId = randomBytes(16).toString('base64url');
    const customArgs = isObject(mail.custom_args) ? mail.custom_args : {};
    for (const to of recipients as string[]) {
      this.accepted.push({
        messageId,
        to,
        from: from as string,
        subject: (mail.subject as string | undefined) ?? '',
        body: text as string,
        idempotencyKey: typeof customArgs.idempotency_key === 'string' ? customArgs.idempotency_key : undefined,
      });
    }
    return { status: 202, headers: { 'x-message-id': messageId } };
  }

  protected errorBody(_status: number, message: string): unknown {
    return { errors: [{ message, field: null, help: null }] };
  }

  private error(status: number, message: string): FakeResponse {
    return { status, body: this.errorBody(status, message) };
  }
}

export interface TwilioCredentials {
  accountSid: string;
  authToken: string;
}

export interface AcceptedSms {
  sid: string;
  to: string;
  from: string;
  body: string;
  idempotencyKey: string | undefined;
}

/** Twilio's Messages resource (`POST /2010-04-01/Accounts/{sid}/Messages.json`), basic auth, form-encoded. */
export class FakeTwilio extends FakeVendor {
  readonly accepted: AcceptedSms[] = [];

  constructor(private readonly credentials: TwilioCredentials) {
    super();
  }

  protected handle(request: ReceivedRequest): FakeResponse {
    const accountSid = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(request.path)?.[1];
    if (accountSid === undefined) return this.error(404, 20404, `The requested resource ${request.path} was not found`);
    if (request.method !== 'POST') return this.error(405, 20004, 'Method not allowed');
    const presented = /^Basic (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const expected = `${this.credentials.accountSid}:${this.credentials.authToken}`;
    if (presented === undefined || Buffer.from(presented, 'base64').toString('utf8') !== expected)
      return this.error(401, 20003, 'Authenticate');
    if (decodeURIComponent(accountSid) !== this.credentials.accountSid) {
      return this.error(404, 20404, `The requested resource ${request.path} was not found`);
    }
    const form = new URLSearchParams(request.body);
    const to = form.get('To');
    const from = form.get('From');
    const body = form.get('Body');
    if (!to) return this.error(400, 21604, "A 'To' phone number is required.");
    if (!from && !form.get('MessagingServiceSid')) return this.error(400, 21603, "A 'From' phone number is required.");
    if (!body && !form.get('MediaUrl')) return this.error(400, 21602, 'Message body is required.');

    const sid = `SM${randomBytes(16).toString('hex')}`;
    const idempotencyKey = request.headers['i-twilio-idempotency-token'];
    this.accepted.push({
      sid,
      to,
      from: from ?? '',
      body: body ?? '',
      idempotencyKey: typeof idempotencyKey === 'string' ? idempotencyKey : undefined,
    });
    return {
      status: 201,
      body: {
        sid,
        account_sid: this.credentials.accountSid,
        to,
        from,
        body,
        status: 'queued',
        direction: 'outbound-api',
        num_segments: '1',
        api_version: '2010-04-01',
        date_created: new Date().toUTCString(),
        error_code: null,
        error_message: null,
        price: null,
        uri: `/2010-04-01/Accounts/${this.credentials.accountSid}/Messages/${sid}.json`,
      },
    };
  }

  protected errorBody(status: number, message: string): unknown {
    return this.body(status, status === 401 ? 20003 : 20000 + status, message);
  }

  private error(status: number, code: number, message: string): FakeResponse {
    return { status, body: this.body(status, code, message) };
  }

  private body(status: number, code: number, message: string): unknown {
    return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
  }
}

export interface FcmCredentials {
  projectId: string;
  accessToken: string;
}

export interface AcceptedPush {
  name: string;
  to: string;
  title: string | undefined;
  body: string | undefined;
  data: Record<string, string> | undefined;
}

const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

/** Firebase Cloud Messaging HTTP v1 (`POST /v1/projects/{id}/messages:send`), OAuth 2 bearer token. */
export class FakeFcm extends FakeVendor {
  readonly accepted: AcceptedPush[] = [];
  private sent = 0;

  constructor(private readonly credentials: FcmCredentials) {
    super();
  }

  protected handle(request: ReceivedRequest): FakeResponse {
    const projectId = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(request.path)?.[1];
    if (projectId === undefined) return this.error(404, 'Requested entity was not found.');
    if (request.method !== 'POST') return this.error(405, 'Method Not Allowed');
    if (request.headers.authorization !== `Bearer ${this.credentials.accessToken}`) {
      return this.error(
        401,
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
    }
    if (decodeURIComponent(projectId) !== this.credentials.projectId) {
      return this.error(
        403,
        `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${projectId}' (or it may not exist).`,
      );
    }
    const payload = parseJson(request.body);
    if (!isObject(payload)) return this.error(400, 'Invalid JSON payload received.');
    const message = payload.message;
    if (!isObject(message)) return this.fcmError(400, 'Request contains an invalid argument.');
    const targets = [message.token, message.topic, message.condition].filter(isNonEmptyString);
    if (targets.length === 0) return this.fcmError(400, 'Recipient of the message is not set.');
    if (targets.length > 1) return this.fcmError(400, "Invalid value at 'message' (oneof), oneof field 'target' is already set.");
    const data = message.data;
    if (data !== undefined && (!isObject(data) || !Object.values(data).every((value) => typeof value === 'string'))) {
      return this.fcmError(400, "Invalid value at 'message.data': every value must be a string.");
    }
    const notification = isObject(message.notification) ? message.notification : {};

    this.sent += 1;
    const name = `projects/${this.credentials.projectId}/messages/${this.sent}`;
    this.accepted.push({
      name,
      to: targets[0]!,
      title: typeof notification.title === 'string' ? notification.title : undefined,
      body: typeof notification.body === 'string' ? notification.body : undefined,
      data: data as Record<string, string> | undefined,
    });
    return { status: 200, body: { name } };
  }

  protected errorBody(status: number, message: string): unknown {
    return { error: { code: status, message, status: GOOGLE_STATUS[status] ?? 'UNKNOWN' } };
  }

  private error(status: number, message: string): FakeResponse {
    return { status, body: this.errorBody(status, message) };
  }

  /** FCM's own refusals carry an FcmError detail naming the reason, which clients switch on. */
  private fcmError(status: number, message: string): FakeResponse {
    const error = { code: status, message, status: GOOGLE_STATUS[status] ?? 'UNKNOWN' };
    const details = [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: GOOGLE_STATUS[status] ?? 'UNKNOWN' }];
    return { status, body: { error: { ...error, details } } };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}
