import type { IncomingHttpHeaders } from 'node:http';
import {
  ErrorCode,
  HttpError,
  isUuid,
  readBody,
  requireRole,
  sendJson,
  systemFork,
  WRITER_ROLES,
  type Database,
  type EntityManager,
  type Identity,
  type Logger,
  type RouteHandler,
} from '@nexusflow/kit';
import { Execution } from '../entities/execution.entity.ts';
import { Workflow, WorkflowStatus } from '../entities/workflow.entity.ts';
import { WorkflowWebhook } from '../entities/workflow-webhook.entity.ts';
import type { ExecutionService } from '../domain/execution-service.ts';
import {
  DELIVERY_HEADER,
  DELIVERY_ID,
  newWebhookSecret,
  parseSignatureHeader,
  SIGNATURE_HEADER,
  signatureMatches,
  signDelivery,
  WebhookSecretBox,
} from './webhook-signing.ts';

/** Where a workflow's webhook is served, on this service's own HTTP server (the gateway does not proxy it). */
export const WEBHOOK_PATH = /^\/webhooks\/workflows\/([^/]+)$/;
export const webhookPath = (workflowId: string) => `/webhooks/workflows/${workflowId}`;

export const hasWebhookTrigger = (workflow: Pick<Workflow, 'triggers'>) => workflow.triggers.some((trigger) => trigger.type === 'WEBHOOK');

export type RotateWebhookSecretResult =
  | Workflow
  | { __typename: 'WorkflowNotFound'; message: string; id: string }
  | { __typename: 'WorkflowHasNoWebhook'; message: string; id: string };

/**
 * The webhooks of workflows with a WEBHOOK trigger: one per workflow, made with its secret when the trigger is saved,
 * gone when the trigger is. A secret is shown once, in the response of the mutation that made or rotated it.
 */
export class WebhookSecrets {
  private readonly box: WebhookSecretBox;
  /** Secrets made in this request, by the workflow instance its response returns: the only time a secret is shown. */
  private readonly revealed = new WeakMap<Workflow, string>();

  constructor(
    encryptionKey: string,
    private readonly baseUrl: string,
    private readonly rotation: WebhookSecretRotation = { graceSeconds: 0, now: Date.now },
  ) {
    this.box = new WebhookSecretBox(encryptionKey);
  }

  urlOf(workflowId: string): string {
    return new URL(webhookPath(workflowId), this.baseUrl).toString();
  }

  /** The secret made for `workflow` in this request, if one was. */
  revealedSecret(workflow: Workflow): string | undefined {
    return this.revealed.get(workflow);
  }

  /** Gives a workflow that gained a WEBHOOK trigger its webhook, and takes it from one that lost it; flushed by the caller. */
  async sync(em: EntityManager, workflow: Workflow): Promise<void> {
    const existing = await em.findOne(WorkflowWebhook, { workflowId: workflow.id });
    if (hasWebhookTrigger(workflow) && !existing) this.issue(em, workflow);
    else if (!hasWebhookTrigger(workflow) && existing) em.remove(existing);
  }

  /**
   * A new secret for the workflow's webhook. The one before still verifies deliveries for the grace period (senders
   * switch meanwhile); one rotated out earlier stops now.
   */
  async rotate(em: EntityManager, identity: Identity, id: string): Promise<RotateWebhookSecretResult> {
    requireRole(identity, WRITER_ROLES);
    const workflow = isUuid(id) ? await em.findOne(Workflow, { id, deletedAt: null }) : null;
    if (!workflow) return { __typename: 'WorkflowNotFound', message: `No workflow ${id}`, id };
    if (!hasWebhookTrigger(workflow)) {
      return { __typename: 'WorkflowHasNoWebhook', message: 'The workflow has no WEBHOOK trigger', id };
    }
    const existing = await em.findOne(WorkflowWebhook, { workflowId: workflow.id });
    if (!existing) {
      this.issue(em, workflow);
      await em.flush();
      return workflow;
    }
    const secret = newWebhookSecret();
    const now = this.rotation.now();
    const graceful = this.rotation.graceSeconds > 0;
    Object.assign(existing, {
      previousSealedSecret: graceful ? existing.sealedSecret : null,
      previousSecretExpiresAt: graceful ? new Date(now + this.rotation.graceSeconds * 1000) : null,
      sealedSecret: this.box.seal(secret, workflow.id),
      secretCreatedAt: new Date(now),
    });
    this.revealed.set(workflow, secret);
    await em.flush();
    return workflow;
  }

  /** When the secret before the last rotation stops verifying deliveries; null when none does any more. */
  previousSecretExpiresAt(webhook: WorkflowWebhook): Date | null {
    const expiresAt = webhook.previousSecretExpiresAt ?? null;
    return expiresAt !== null && expiresAt.getTime() > this.rotation.now() ? expiresAt : null;
  }

  /** The secrets a delivery may be signed with now: the webhook's, and the one before while its grace lasts. */
  async acceptedSecretsOf(em: EntityManager, workflowId: string): Promise<string[]> {
    const webhook = await em.findOne(WorkflowWebhook, { workflowId });
    if (!webhook) return [];
    const previous = this.previousSecretExpiresAt(webhook) && webhook.previousSealedSecret ? [webhook.previousSealedSecret] : [];
    return [webhook.sealedSecret, ...previous].map((sealed) => this.box.open(sealed, workflowId));
  }

  private issue(em: EntityManager, workflow: Workflow): void {
    const secret = newWebhookSecret();
    em.create(WorkflowWebhook, {
      workflowId: workflow.id,
      tenantId: workflow.tenantId,
      sealedSecret: this.box.seal(secret, workflow.id),
      secretCreatedAt: new Date(this.rotation.now()),
    });
    this.revealed.set(workflow, secret);
  }
}

export interface WebhookSecretRotation {
  /** How long a rotated-out secret still verifies deliveries (WEBHOOK_SECRET_GRACE_HOURS); 0: not at all. */
  graceSeconds: number;
  now: () => number;
}

export interface WebhookDeliveryOptions {
  database: Database;
  secrets: WebhookSecrets;
  executions: ExecutionService;
  logger: Logger;
  maxBodyBytes: number;
  toleranceSeconds: number;
  now?: () => number;
}

/**
 * What a delivery is answered: 202 with the run it started, 200 with the run a repeated delivery id started before, or
 * with the failed run that records a delivery refused by the plan's quota (sending it again changes nothing).
 */
interface DeliveryAnswer {
  status: 200 | 202;
  executionId: string;
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const refused = (status: number, code: ErrorCode, message: string) => new HttpError(status, code, message);

/**
 * Deliveries to workflow webhooks: verified (signature, age), idempotent by delivery id (the id is the run's idempotency
 * key, unique per workflow in the database), answered as soon as the run is recorded; its steps run on the step queue.
 */
export class WebhookDeliveries {
  private readonly now: () => number;

  constructor(private readonly options: WebhookDeliveryOptions) {
    this.now = options.now ?? Date.now;
  }

  /** `POST /webhooks/workflows/<workflow id>` on the subgraph's HTTP server. */
  route(): RouteHandler {
    return async (req, res, url) => {
      const match = WEBHOOK_PATH.exec(url.pathname);
      if (!match) return false;
      if (req.method !== 'POST') throw new HttpError(405, ErrorCode.BadRequest, 'Webhooks accept POST only', { allow: 'POST' });
      const body = await readBody(req, this.options.maxBodyBytes);
      const answer = await this.receive(match[1]!, req.headers, body);
      sendJson(res, answer.status, { executionId: answer.executionId });
      return true;
    };
  }

  async receive(workflowId: string, headers: IncomingHttpHeaders, body: Buffer): Promise<DeliveryAnswer> {
    const deliveryId = header(headers, DELIVERY_HEADER);
    if (!deliveryId || !DELIVERY_ID.test(deliveryId)) {
      throw refused(400, ErrorCode.BadRequest, `${DELIVERY_HEADER} must be 1 to 128 letters, digits, ".", "_", ":" or "-"`);
    }
    const signature = parseSignatureHeader(header(headers, SIGNATURE_HEADER));
    if (!signature) throw refused(401, ErrorCode.Unauthenticated, `${SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex HMAC-SHA256>`);
    if (Math.abs(this.now() / 1000 - signature.timestamp) > this.options.toleranceSeconds) {
      throw refused(401, ErrorCode.Unauthenticated, `The signature's timestamp is more than ${this.options.toleranceSeconds} s away`);
    }
    const em = systemFork(this.options.database);
    const workflow = isUuid(workflowId) ? await em.findOne(Workflow, { id: workflowId, deletedAt: null }) : null;
    const secrets = workflow && hasWebhookTrigger(workflow) ? await this.options.secrets.acceptedSecretsOf(em, workflow.id) : [];
    if (!workflow || secrets.length === 0) throw refused(404, ErrorCode.NotFound, 'No webhook here');
    const signedWithAny = secrets.some((secret) =>
      signatureMatches(signDelivery(secret, signature.timestamp, deliveryId, body), signature.signatures),
    );
    if (!signedWithAny) {
      throw refused(401, ErrorCode.Unauthenticated, 'The signature does not match');
    }
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      throw refused(400, ErrorCode.BadRequest, 'The body must be JSON');
    }
    const idempotencyKey = `webhook:${deliveryId}`;
    const earlier = await em.findOne(Execution, { workflowId: workflow.id, idempotencyKey });
    if (earlier) return { status: 200, executionId: earlier.id };
    if (workflow.status === WorkflowStatus.Paused) throw refused(409, ErrorCode.Conflict, 'The workflow is paused');
    const { execution, started } = await this.options.executions.startTriggered(em, workflow, { input, idempotencyKey });
    return { status: started ? 202 : 200, executionId: execution.id };
  }
}
