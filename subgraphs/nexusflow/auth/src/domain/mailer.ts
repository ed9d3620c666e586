import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ANONYMOUS, callSubgraph, SubgraphRequestError, systemFork, type Database, type EntityManager, type Logger } from '@nexusflow/kit';
import { DeliverTransactionalEmailDocument } from '../__generated__/notifications-operations.ts';
import { PendingEmail } from '../entities/pending-email.entity.ts';

/** An email as the notifications service sends it: its template's built-in wording filled with `variables`. */
export interface Email {
  to: string;
  /** A template key of the notifications service, e.g. `auth.verify-email`. */
  template: string;
  variables: Record<string, unknown>;
}

/**
 * Writes an email when it is first sent, from what was recorded when it was asked for; null: nobody to send it to (a
 * reset asked for an unknown email). Runs in the sender's system unit of work, whose flush commits what it creates
 * (a token) together with the email.
 */
export type EmailComposer = (em: EntityManager, request: Record<string, unknown>) => Promise<Omit<Email, 'template'> | null>;

export interface MailerOptions {
  database: Database;
  /** The notifications subgraph's GraphQL endpoint. */
  notificationsUrl: string;
  internalSecret: string;
  /** The key pending emails are sealed with is derived from it; a database alone then reveals no link. */
  sealingSecret: string;
  logger: Logger;
  now: () => number;
  /** How often due emails are looked for when nothing signalled new ones. */
  pollIntervalMs: number;
  /** The wait after the first failed attempt; it doubles per attempt up to {@link MAX_BACKOFF_MS}. */
  backoffMs: number;
  /** By template: writes emails that are recorded as requests (see {@link Mailer.request}). */
  composers?: Record<string, EmailComposer>;
}

/** Emails one pass takes. */
const BATCH_SIZE = 20;
/** How long a sender holds an email it is sending: longer than one call to notifications may take. */
const LEASE_MS = 60_000;
const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Auth's outbox of emails. An email is a row committed with the change it is about (a registration, a reset request),
 * so that the request never waits for, or fails with, the notifications service; a background sender hands each to
 * notifications' `deliverTransactionalEmail` (keyed by the row's id, so that a retry after a lost answer sends once)
 * and deletes it, retrying with backoff while notifications is unreachable, until the email expires. Rows are sealed
 * with AES-256-GCM, since they may carry a secret link; logs name the template and the row, never the address or link.
 */
export class Mailer {
  private readonly key: Buffer;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: MailerOptions) {
    this.key = Buffer.from(hkdfSync('sha256', options.sealingSecret, 'nexusflow-auth', 'pending-emails', 32));
  }

  /** An email to send as it is; the caller's flush commits it. */
  enqueue(em: EntityManager, email: Email, expiresAt: Date): PendingEmail {
    return this.record(em, email.template, true, { to: email.to, variables: email.variables }, expiresAt);
  }

  /** An email its template's composer writes when it is first sent; the caller's flush commits the request. */
  request(em: EntityManager, template: string, request: Record<string, unknown>, expiresAt: Date): PendingEmail {
    if (!this.options.composers?.[template]) throw new Error(`no composer for ${template} emails`);
    return this.record(em, template, false, request, expiresAt);
  }

  start(): void {
    this.timer = setInterval(() => this.wake(), this.options.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /** Sends due emails soon; called after a commit that recorded some, so that they need not wait for the poll. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.sendDue()
      .then(() => undefined)
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'sending pending emails failed; retrying on the next poll'))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Waits for the pass in progress, if any: what a test awaits after {@link wake}. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * One pass over the due emails: each is claimed for a lease (so that another auth instance skips it), sent, and
   * deleted once notifications took it. Returns how many were handed over.
   */
  async sendDue(): Promise<number> {
    const em = systemFork(this.options.database);
    const now = this.options.now();
    const claimed = await em.getConnection().execute<{ id: string }[]>(
      `update "pending_emails" set "next_attempt_at" = :lease::timestamptz, "attempts" = "attempts" + 1
       where "id" in (select "id" from "pending_emails" where "next_attempt_at" <= :now::timestamptz
                      order by "next_attempt_at" limit :batch for update skip locked)
       returning "id"`,
      { now: new Date(now).toISOString(), lease: new Date(now + LEASE_MS).toISOString(), batch: BATCH_SIZE },
    );
    if (claimed.length === 0) return 0;
    let handedOver = 0;
    for (const row of await em.find(PendingEmail, { id: { $in: claimed.map(({ id }) => id) } }, { orderBy: { nextAttemptAt: 'asc' } })) {
      if (await this.send(em, row)) handedOver += 1;
    }
    return handedOver;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.idle();
  }

  private async send(em: EntityManager, row: PendingEmail): Promise<boolean> {
    const context = { pendingEmailId: row.id, template: row.template };
    if (row.expiresAt.getTime() <= this.options.now()) {
      this.options.logger.warn({ ...context, attempts: row.attempts }, 'an email expired before notifications could take it; dropped');
      await em.remove(row).flush();
      return false;
    }
    let email: Email | null;
    try {
      email = await this.emailOf(em, row);
    } catch (error) {
      this.options.logger.error({ err: error, ...context }, 'could not write a pending email; retrying later');
      await this.retryLater(em, row, 'COMPOSE_FAILED');
      return false;
    }
    if (!email) {
      await em.remove(row).flush();
      return false;
    }
    try {
      const { deliverTransactionalEmail } = await callSubgraph({
        url: this.options.notificationsUrl,
        internalSecret: this.options.internalSecret,
        identity: ANONYMOUS,
        query: DeliverTransactionalEmailDocument,
        // Signed by the wall clock, which notifications checks signatures against, not by the service's own clock.
        variables: { input: { to: email.to, template: email.template, variables: email.variables, idempotencyKey: row.id } },
      });
      if (!deliverTransactionalEmail.queued) {
        this.options.logger.info(context, 'notifications did not send an email: its email channel is off (SENDGRID_API_KEY unset)');
      }
      await em.remove(row).flush();
      return deliverTransactionalEmail.queued;
    } catch (error) {
      if (!(error instanceof SubgraphRequestError)) throw error;
      // Only the code: an error message may quote the variables, and with them the link.
      const failure = { ...context, code: error.code, status: error.status, attempts: row.attempts };
      if (!error.retryable) {
        this.options.logger.error(failure, 'notifications refused an email; dropped');
        await em.remove(row).flush();
        return false;
      }
      this.options.logger.warn(failure, 'notifications could not take an email; retrying later');
      await this.retryLater(em, row, error.code);
      return false;
    }
  }

  /** The email of a row, composing it first if it was recorded as a request; what was composed is kept for retries. */
  private async emailOf(em: EntityManager, row: PendingEmail): Promise<Email | null> {
    const sealed = this.unseal(row.sealed);
    if (row.composed) return { template: row.template, to: sealed.to as string, variables: sealed.variables as Record<string, unknown> };
    const composed = await this.options.composers![row.template]!(em, sealed);
    if (!composed) return null;
    row.sealed = this.seal(composed);
    row.composed = true;
    await em.flush();
    return { template: row.template, ...composed };
  }

  private async retryLater(em: EntityManager, row: PendingEmail, code: string): Promise<void> {
    const wait = Math.min(this.options.backoffMs * 2 ** Math.max(0, row.attempts - 1), MAX_BACKOFF_MS);
    row.nextAttemptAt = new Date(this.options.now() + wait);
    row.lastError = code;
    await em.flush();
  }

  private record(em: EntityManager, template: string, composed: boolean, content: Record<string, unknown>, expiresAt: Date) {
    const now = new Date(this.options.now());
    return em.create(PendingEmail, {
      template,
      composed,
      sealed: this.seal(content),
      attempts: 0,
      nextAttemptAt: now,
      expiresAt,
      lastError: null,
    });
  }

  /** `iv.tag.ciphertext`, base64url. */
  private seal(content: Record<string, unknown>): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(content), 'utf8'), cipher.final()]);
    return [iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url')).join('.');
  }

  private unseal(sealed: string): Record<string, unknown> {
    const [iv, tag, ciphertext] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv!);
    decipher.setAuthTag(tag!);
    return JSON.parse(Buffer.concat([decipher.update(ciphertext!), decipher.final()]).toString('utf8')) as Record<string, unknown>;
  }
}
