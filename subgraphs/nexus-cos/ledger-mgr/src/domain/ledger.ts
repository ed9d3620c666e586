import { createHash, randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import {
  badUserInput,
  pageSize,
  parseInput,
  requireRole,
  requireUser,
  WRITER_ROLES,
  type EntityManager,
  type Identity,
} from '@nexusflow/kit';
import { z } from 'zod';
import { JOURNAL_SOURCES, JournalEntry, type JournalSource } from '../entities/journal-entry.entity.ts';
import { JournalLine } from '../entities/journal-line.entity.ts';
import { LEDGER_ACCOUNT_CODES, LedgerAccount, type LedgerAccountCode } from '../entities/ledger-account.entity.ts';

/** On which side each account of the chart grows. */
export const NORMAL_BALANCE: Record<LedgerAccountCode, 'DEBIT' | 'CREDIT'> = {
  CASH: 'DEBIT',
  ACCOUNTS_RECEIVABLE: 'DEBIT',
  REVENUE: 'CREDIT',
  TAX_PAYABLE: 'CREDIT',
  PROCESSING_FEES: 'DEBIT',
  REFUNDS: 'DEBIT',
};

export const ACCOUNT_NAMES: Record<LedgerAccountCode, string> = {
  CASH: 'Cash at the payment processor',
  ACCOUNTS_RECEIVABLE: 'Accounts receivable',
  REVENUE: 'Revenue',
  TAX_PAYABLE: 'Tax payable',
  PROCESSING_FEES: 'Payment processing fees',
  REFUNDS: 'Refunds',
};

/** A balance on an account's normal side: what `debit − credit` is for a debit-normal account. */
export function normalBalance(code: LedgerAccountCode, debitMinor: number, creditMinor: number): number {
  return NORMAL_BALANCE[code] === 'DEBIT' ? debitMinor - creditMinor : creditMinor - debitMinor;
}

export interface AccountBalanceView {
  account: LedgerAccount;
  accountCode: LedgerAccountCode;
  currency: string;
  debitTotalMinor: number;
  creditTotalMinor: number;
  balanceMinor: number;
}

export type PostJournalEntryResult =
  | { __typename: 'PostedJournalEntry'; entry: JournalEntry; created: boolean }
  | { __typename: 'UnbalancedJournalEntry'; message: string; debitTotalMinor: number; creditTotalMinor: number }
  | { __typename: 'IdempotencyKeyConflict'; message: string; idempotencyKey: string; existingEntry: JournalEntry };

const MAX_MINOR = 2_147_483_647;
const MAX_PAGE = 100;

const amountSchema = z.number().int('must be a whole number').min(0, 'must not be negative').max(MAX_MINOR, 'is too large');

const postJournalEntryInputSchema = z.object({
  idempotencyKey: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  source: z.enum(JOURNAL_SOURCES),
  sourceId: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  description: z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters'),
  occurredAt: z.date(),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code in upper case, e.g. EUR'),
  lines: z
    .array(
      z
        .object({ account: z.enum(LEDGER_ACCOUNT_CODES), debitMinor: amountSchema, creditMinor: amountSchema })
        .refine((line) => line.debitMinor > 0 !== line.creditMinor > 0, {
          message: 'must have exactly one of debitMinor and creditMinor above 0',
          path: ['debitMinor'],
        }),
    )
    .min(2, 'must have at least two lines')
    .max(50, 'must have at most 50 lines'),
});

type PostJournalEntryInput = z.output<typeof postJournalEntryInputSchema>;

/** What identifies an entry's content, so that a replay of the same entry is told from another one under the same key. */
function contentHashOf(entry: PostJournalEntryInput): string {
  const content = {
    source: entry.source,
    sourceId: entry.sourceId,
    description: entry.description,
    occurredAt: entry.occurredAt.toISOString(),
    currency: entry.currency,
    lines: entry.lines.map((line) => [line.account, line.debitMinor, line.creditMinor]),
  };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

const number = (value: unknown): number => Number(value ?? 0);

/**
 * The double-entry ledger of the caller's tenant. Every entry balances and is written in one transaction with its
 * lines; the idempotency key is unique per tenant in the database, so that concurrent posts of one key leave one entry.
 */
export class Ledger {
  constructor(private readonly clock: () => number) {}

  /** Internal: posting needs a writer role (services post with one); a VIEWER is refused. */
  async post(em: EntityManager, identity: Identity, input: unknown): Promise<PostJournalEntryResult> {
    const caller = requireRole(identity, WRITER_ROLES);
    const entry = parseInput(postJournalEntryInputSchema, input);
    const debitTotalMinor = entry.lines.reduce((sum, line) => sum + line.debitMinor, 0);
    const creditTotalMinor = entry.lines.reduce((sum, line) => sum + line.creditMinor, 0);
    if (debitTotalMinor !== creditTotalMinor) {
      return {
        __typename: 'UnbalancedJournalEntry',
        message: `The debits (${debitTotalMinor}) and credits (${creditTotalMinor}) differ: nothing was posted`,
        debitTotalMinor,
        creditTotalMinor,
      };
    }
    if (debitTotalMinor > MAX_MINOR) throw badUserInput('"lines" add up to too large an amount', { field: 'lines' });
    const contentHash = contentHashOf(entry);
    const earlier = await em.findOne(JournalEntry, { idempotencyKey: entry.idempotencyKey });
    if (earlier) return this.replayed(earlier, contentHash);

    const accounts = await this.openAccounts(em, caller.tenantId, entry.currency, [...new Set(entry.lines.map((line) => line.account))]);
    const id = randomUUID();
    try {
      await em.transactional(async (tx) => {
        tx.create(JournalEntry, {
          id,
          tenantId: caller.tenantId,
          idempotencyKey: entry.idempotencyKey,
          source: entry.source,
          sourceId: entry.sourceId,
          description: entry.description,
          occurredAt: entry.occurredAt,
          postedAt: new Date(this.clock()),
          currency: entry.currency,
          amountMinor: debitTotalMinor,
          contentHash,
        });
        // Debits first, then credits, each in the order given: how entries are read.
        const ordered = [...entry.lines.filter((line) => line.debitMinor > 0), ...entry.lines.filter((line) => line.creditMinor > 0)];
        ordered.forEach((line, position) =>
          tx.create(JournalLine, {
            id: randomUUID(),
            tenantId: caller.tenantId,
            entryId: id,
            position,
            accountId: accounts.get(line.account)!.id,
            accountCode: line.account,
            occurredAt: entry.occurredAt,
            debitMinor: line.debitMinor,
            creditMinor: line.creditMinor,
          }),
        );
      });
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      // The same key posted at the same moment by another request: its entry won.
      em.clear();
      const winner = await em.findOneOrFail(JournalEntry, { idempotencyKey: entry.idempotencyKey });
      return this.replayed(winner, contentHash);
    }
    return { __typename: 'PostedJournalEntry', entry: await em.findOneOrFail(JournalEntry, { id }), created: true };
  }

  private replayed(earlier: JournalEntry, contentHash: string): PostJournalEntryResult {
    if (earlier.contentHash === contentHash) return { __typename: 'PostedJournalEntry', entry: earlier, created: false };
    return {
      __typename: 'IdempotencyKeyConflict',
      message: `The key ${earlier.idempotencyKey} was used for another entry: nothing was posted`,
      idempotencyKey: earlier.idempotencyKey,
      existingEntry: earlier,
    };
  }

  /** Opens what is missing of the accounts (concurrent openings of one account leave one) and returns them by code. */
  private async openAccounts(
    em: EntityManager,
    tenantId: string,
    currency: string,
    codes: LedgerAccountCode[],
  ): Promise<Map<LedgerAccountCode, LedgerAccount>> {
    const now = new Date(this.clock());
    await em.getConnection().execute(
      `insert into "ledger_accounts" ("id", "created_at", "tenant_id", "code", "currency")
       values ${codes.map(() => '(?, ?, ?, ?, ?)').join(', ')}
       on conflict ("tenant_id", "code", "currency") do nothing`,
      codes.flatMap((code) => [randomUUID(), now, tenantId, code, currency]),
    );
    const accounts = await em.find(LedgerAccount, { code: { $in: codes }, currency });
    return new Map(accounts.map((account) => [account.code, account]));
  }

  async accounts(em: EntityManager, identity: Identity, currency: string | null | undefined): Promise<LedgerAccount[]> {
    requireUser(identity);
    const accounts = await em.find(LedgerAccount, currency ? { currency: currency.toUpperCase() } : {});
    return accounts.sort(byChartOrder);
  }

  /** Every account's balance from the entries that occurred up to `at` (included). */
  async balances(
    em: EntityManager,
    identity: Identity,
    at: Date | null | undefined,
    currency: string | null | undefined,
  ): Promise<AccountBalanceView[]> {
    requireUser(identity);
    const accounts = await this.accounts(em, identity, currency);
    if (accounts.length === 0) return [];
    const moment = at ?? new Date(this.clock());
    const rows = await em.getConnection().execute<{ account_id: string; debit: unknown; credit: unknown }[]>(
      `select "account_id", sum("debit_minor")::bigint as "debit", sum("credit_minor")::bigint as "credit"
       from "journal_lines" where "account_id" in (${accounts.map(() => '?').join(', ')}) and "occurred_at" <= ?
       group by "account_id"`,
      [...accounts.map((account) => account.id), moment],
    );
    const totals = new Map(rows.map((row) => [row.account_id, { debit: number(row.debit), credit: number(row.credit) }]));
    return accounts.map((account) => {
      const { debit, credit } = totals.get(account.id) ?? { debit: 0, credit: 0 };
      return {
        account,
        accountCode: account.code,
        currency: account.currency,
        debitTotalMinor: debit,
        creditTotalMinor: credit,
        balanceMinor: normalBalance(account.code, debit, credit),
      };
    });
  }

  async entries(
    em: EntityManager,
    identity: Identity,
    options: { first: number; source?: JournalSource | null; sourceId?: string | null },
  ): Promise<JournalEntry[]> {
    requireUser(identity);
    const limit = pageSize(options.first, MAX_PAGE);
    if (limit === 0) return [];
    return em.find(
      JournalEntry,
      { ...(options.source ? { source: options.source } : {}), ...(options.sourceId ? { sourceId: options.sourceId } : {}) },
      { orderBy: { occurredAt: 'desc', postedAt: 'desc', id: 'desc' }, limit },
    );
  }
}

function byChartOrder(a: LedgerAccount, b: LedgerAccount): number {
  return a.currency.localeCompare(b.currency) || LEDGER_ACCOUNT_CODES.indexOf(a.code) - LEDGER_ACCOUNT_CODES.indexOf(b.code);
}
