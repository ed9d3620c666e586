import DataLoader from 'dataloader';
import { groupByKeys, loaderById, tenantCondition, type EntityManager } from '@nexusflow/kit';
import { normalBalance } from './domain/ledger.ts';
import { JournalEntry } from './entities/journal-entry.entity.ts';
import { JournalLine } from './entities/journal-line.entity.ts';
import { LedgerAccount } from './entities/ledger-account.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return {
    ledgerAccountById: loaderById(em, LedgerAccount),
    journalEntryById: loaderById(em, JournalEntry),
    linesByEntryId: new DataLoader<string, JournalLine[]>(async (entryIds) => {
      const lines = await em.find(JournalLine, { entryId: { $in: [...entryIds] } }, { orderBy: { position: 'asc' } });
      return groupByKeys(entryIds, lines, (line) => line.entryId);
    }),
    /** Balances now, on each account's normal side. */
    balanceByAccount: new DataLoader<LedgerAccount, number, string>(
      async (accounts) => {
        const tenant = tenantCondition(em, '"tenant_id"');
        const rows = await em.getConnection().execute<{ account_id: string; debit: unknown; credit: unknown }[]>(
          `select "account_id", sum("debit_minor")::bigint as "debit", sum("credit_minor")::bigint as "credit" from "journal_lines"
           where "account_id" in (${accounts.map(() => '?').join(', ')}) and ${tenant.sql} group by "account_id"`,
          [...accounts.map((account) => account.id), ...tenant.params],
        );
        const totals = new Map(rows.map((row) => [row.account_id, { debit: Number(row.debit), credit: Number(row.credit) }]));
        return accounts.map((account) => {
          const total = totals.get(account.id) ?? { debit: 0, credit: 0 };
          return normalBalance(account.code, total.debit, total.credit);
        });
      },
      { cacheKeyFn: (account) => account.id },
    ),
  };
}

export type LedgerMgrLoaders = ReturnType<typeof createLoaders>;
