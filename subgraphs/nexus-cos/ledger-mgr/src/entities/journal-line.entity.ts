import { entityId, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

const IMMUTABLE = "raise exception 'journal lines are immutable: post a correcting entry instead' using errcode = 'P0001';";
import type { LedgerAccountCode } from './ledger-account.entity.ts';

/**
 * One line of a journal entry, immutable like its entry. It repeats its entry's date and its account's code so that a
 * balance at any moment is one indexed sum over lines.
 */
export const JournalLineSchema = defineEntity({
  name: 'JournalLine',
  tableName: 'journal_lines',
  filters: tenantFilter(),
  // The ledger is append-only whatever the code does: a correction is a new entry, never an edit.
  triggers: [{ name: 'journal_lines_immutable', timing: 'before', events: ['update', 'delete'], forEach: 'row', body: IMMUTABLE }],
  indexes: [{ properties: ['accountId', 'occurredAt'] }, { properties: ['entryId'] }],
  properties: {
    ...entityId,
    tenantId: p.uuid(),
    entryId: p.uuid(),
    /** Its place in the entry, from 0. */
    position: p.integer(),
    accountId: p.uuid(),
    accountCode: p.string().length(32).$type<LedgerAccountCode>(),
    occurredAt: p.datetime(),
    debitMinor: p.integer(),
    creditMinor: p.integer(),
  },
});

export class JournalLine extends JournalLineSchema.class {}
JournalLineSchema.setClass(JournalLine);
