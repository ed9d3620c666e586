import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { PostJournalEntryInput } from '../__generated__/ledger-mgr-operations.ts';

export type LedgerPostingStatus = 'PENDING' | 'POSTED' | 'REJECTED';

/**
 * invoice-gen's outbox of journal entries owed to ledger-mgr: written in the transaction that issues or voids an
 * invoice, so that the posting is never lost, and handed over by a background poster that retries with backoff while
 * ledger-mgr is unreachable. The poster reads it as the system.
 */
export const LedgerPostingSchema = defineEntity({
  name: 'LedgerPosting',
  tableName: 'ledger_postings',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    invoiceId: p.uuid().index(),
    /** `invoice:<id>:issued` or `invoice:<id>:voided`: ledger-mgr posts once per key. */
    idempotencyKey: p.string().unique(),
    /** What is sent: ledger-mgr's PostJournalEntryInput. */
    entry: p.json<PostJournalEntryInput>(),
    /** The user who issued or voided the invoice: the posting is made in their name. */
    requestedBy: p.uuid(),
    status: p.string().$type<LedgerPostingStatus>(),
    attempts: p.integer(),
    /** Due from then while PENDING; a poster holding it pushes it forward, so that no other instance sends it too. */
    nextAttemptAt: p.datetime().index(),
    /** The error code of the latest failed attempt, or the typed refusal of ledger-mgr. */
    lastError: p.string().nullable(),
    postedAt: p.datetime().nullable(),
    /** ledger-mgr's id of the entry. */
    journalEntryId: p.string().nullable(),
  },
});

export class LedgerPosting extends LedgerPostingSchema.class {}
LedgerPostingSchema.setClass(LedgerPosting);
