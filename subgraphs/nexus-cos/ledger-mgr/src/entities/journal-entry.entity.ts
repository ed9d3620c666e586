import { entityId, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

const IMMUTABLE = "raise exception 'journal entries are immutable: post a correcting entry instead' using errcode = 'P0001';";

export const JOURNAL_SOURCES = ['INVOICE', 'PAYMENT', 'REFUND', 'FEE', 'ADJUSTMENT'] as const;
export type JournalSource = (typeof JOURNAL_SOURCES)[number];

/**
 * A balanced journal entry of one tenant, posted once per idempotency key (unique per tenant) and never changed nor
 * deleted afterwards: a database trigger refuses both (migration 0001).
 */
export const JournalEntrySchema = defineEntity({
  name: 'JournalEntry',
  tableName: 'journal_entries',
  filters: tenantFilter(),
  // The ledger is append-only whatever the code does: a correction is a new entry, never an edit.
  triggers: [{ name: 'journal_entries_immutable', timing: 'before', events: ['update', 'delete'], forEach: 'row', body: IMMUTABLE }],
  uniques: [{ properties: ['tenantId', 'idempotencyKey'] }],
  indexes: [{ properties: ['tenantId', 'occurredAt'] }, { properties: ['tenantId', 'source', 'sourceId'] }],
  properties: {
    ...entityId,
    tenantId: p.uuid(),
    idempotencyKey: p.string().length(200),
    source: p.string().length(16).$type<JournalSource>(),
    sourceId: p.string().length(200),
    description: p.string().length(500),
    occurredAt: p.datetime(),
    postedAt: p.datetime(),
    currency: p.string().length(3),
    /** The sum of the debits (equal to the credits'). */
    amountMinor: p.integer(),
    /** SHA-256 of what was posted (source, ids, description, date, currency, lines): tells a replay from a conflict. */
    contentHash: p.string().length(64),
  },
});

export class JournalEntry extends JournalEntrySchema.class {}
JournalEntrySchema.setClass(JournalEntry);
