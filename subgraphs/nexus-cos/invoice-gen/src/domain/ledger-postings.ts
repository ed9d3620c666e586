import {
  callSubgraph,
  PeriodicTask,
  Role,
  SubgraphRequestError,
  systemFork,
  type Database,
  type EntityManager,
  type Logger,
  type Stoppable,
} from '@nexusflow/kit';
import { InvoicePostJournalEntryDocument, type PostJournalEntryInput } from '../__generated__/ledger-mgr-operations.ts';
import type { Invoice } from '../entities/invoice.entity.ts';
import { LedgerPosting } from '../entities/ledger-posting.entity.ts';

/** Postings one pass takes. */
const BATCH_SIZE = 20;
/** How long a poster holds a posting it is sending: longer than one call to ledger-mgr may take. */
const LEASE_MS = 60_000;
const MAX_BACKOFF_MS = 5 * 60_000;

/** What issuing posts: the customer owes the total, of which the subtotal is revenue and the tax is owed onwards. */
export function issuedEntry(invoice: Invoice, occurredAt: Date): PostJournalEntryInput {
  return {
    idempotencyKey: `invoice:${invoice.id}:issued`,
    source: 'INVOICE',
    sourceId: invoice.id,
    description: `Invoice ${invoice.number} issued to ${invoice.customer.name}`.slice(0, 500),
    occurredAt: occurredAt.toISOString(),
    currency: invoice.currency,
    lines: [
      { account: 'ACCOUNTS_RECEIVABLE', debitMinor: invoice.totalMinor, creditMinor: 0 },
      { account: 'REVENUE', debitMinor: 0, creditMinor: invoice.subtotalMinor },
      { account: 'TAX_PAYABLE', debitMinor: 0, creditMinor: invoice.taxMinor },
    ].filter((line) => line.debitMinor + line.creditMinor > 0) as PostJournalEntryInput['lines'],
  };
}

/** What voiding an issued invoice posts: the entry reversed, side for side. */
export function voidedEntry(invoice: Invoice, occurredAt: Date): PostJournalEntryInput {
  const issued = issuedEntry(invoice, occurredAt);
  return {
    ...issued,
    idempotencyKey: `invoice:${invoice.id}:voided`,
    description: `Invoice ${invoice.number} voided`,
    lines: issued.lines.map((line) => ({ account: line.account, debitMinor: line.creditMinor, creditMinor: line.debitMinor })),
  };
}

export interface LedgerPosterOptions {
  database: Database;
  /** ledger-mgr's GraphQL endpoint. */
  ledgerMgrUrl: string;
  internalSecret: string;
  logger: Logger;
  now: () => number;
  /** The wait after the first failed attempt; it doubles per attempt up to {@link MAX_BACKOFF_MS}. */
  backoffMs: number;
}

/**
 * invoice-gen's outbox of journal entries. An entry is a row committed with the issue or void it records, so that the
 * request neither waits for nor fails with ledger-mgr; a background poster hands each to ledger-mgr's
 * `postJournalEntry` (which posts once per idempotency key, so a retry after a lost answer posts once) and marks it
 * POSTED, retrying with backoff while ledger-mgr is unreachable. A typed refusal (unbalanced, a key conflict) would be
 * refused again: it is marked REJECTED and logged as an error for people to look at.
 */
export class LedgerPoster {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private poll: PeriodicTask | undefined;

  constructor(private readonly options: LedgerPosterOptions) {}

  /** Adds a posting to the unit of work of `tx`: committed, or rolled back, with the change it records. */
  record(tx: EntityManager, invoice: Invoice, entry: PostJournalEntryInput, requestedBy: string): LedgerPosting {
    return tx.create(LedgerPosting, {
      tenantId: invoice.tenantId,
      invoiceId: invoice.id,
      idempotencyKey: entry.idempotencyKey,
      entry,
      requestedBy,
      status: 'PENDING',
      attempts: 0,
      nextAttemptAt: new Date(this.options.now()),
      lastError: null,
      postedAt: null,
      journalEntryId: null,
    });
  }

  /** Polls every `intervalMs` (0: only when woken) besides the wakes that follow each commit. */
  start(intervalMs: number): Stoppable {
    this.poll = new PeriodicTask(
      async () => {
        this.wake();
        await this.idle();
      },
      { logger: this.options.logger, failureMessage: 'posting to the ledger failed; retrying on the next poll', immediately: true },
    ).start(intervalMs);
    return { close: () => this.stop() };
  }

  /** Posts due entries soon; called after a commit that recorded some, so that they need not wait for the poll. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.postDue()
      .then(() => undefined)
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'posting to the ledger failed; retrying on the next poll'))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Waits until no pass is running or due to run again: what a test awaits after a wake. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * One pass over the due postings: each is claimed for a lease (so that another instance skips it), sent, and marked.
   * Returns how many ledger-mgr took.
   */
  async postDue(): Promise<number> {
    const em = systemFork(this.options.database);
    const now = this.options.now();
    const claimed = await em.execute<{ id: string }[]>(
      `update "ledger_postings" set "next_attempt_at" = ?::timestamptz, "attempts" = "attempts" + 1
       where "id" in (select "id" from "ledger_postings" where "status" = 'PENDING' and "next_attempt_at" <= ?::timestamptz
                      order by "next_attempt_at" limit ? for update skip locked)
       returning "id"`,
      [new Date(now + LEASE_MS).toISOString(), new Date(now).toISOString(), BATCH_SIZE],
    );
    if (claimed.length === 0) return 0;
    let posted = 0;
    const rows = await em.find(LedgerPosting, { id: { $in: claimed.map(({ id }) => id) } }, { orderBy: { createdAt: 'asc' } });
    for (const row of rows) if (await this.post(em, row)) posted += 1;
    return posted;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.poll?.stop();
    await this.idle();
  }

  private async post(em: EntityManager, row: LedgerPosting): Promise<boolean> {
    const context = { postingId: row.id, idempotencyKey: row.idempotencyKey, attempts: row.attempts };
    try {
      const { postJournalEntry: result } = await callSubgraph({
        url: this.options.ledgerMgrUrl,
        internalSecret: this.options.internalSecret,
        identity: { kind: 'user', userId: row.requestedBy, tenantId: row.tenantId, roles: [Role.Admin] },
        query: InvoicePostJournalEntryDocument,
        variables: { input: row.entry },
      });
      if (result.__typename === 'PostedJournalEntry') {
        Object.assign(row, { status: 'POSTED', postedAt: new Date(this.options.now()), journalEntryId: result.entry.id, lastError: null });
        await em.flush();
        return true;
      }
      this.options.logger.error({ ...context, refusal: result.__typename, reason: result.message }, 'ledger-mgr refused a posting');
      Object.assign(row, { status: 'REJECTED', lastError: result.__typename });
      await em.flush();
      return false;
    } catch (error) {
      if (!(error instanceof SubgraphRequestError)) throw error;
      const failure = { ...context, code: error.code, status: error.status };
      // Kept either way: a refusal that is no typed answer (a permission, a schema mismatch) needs a fix, not a loss.
      if (error.retryable) this.options.logger.warn(failure, 'ledger-mgr could not take a posting; retrying later');
      else this.options.logger.error({ ...failure, reason: error.message }, 'ledger-mgr refused a posting; retrying later');
      const wait = Math.min(this.options.backoffMs * 2 ** Math.max(0, row.attempts - 1), MAX_BACKOFF_MS);
      Object.assign(row, { nextAttemptAt: new Date(this.options.now() + wait), lastError: error.code });
      await em.flush();
      return false;
    }
  }
}
