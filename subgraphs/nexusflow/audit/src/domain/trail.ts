import type { EntityManager } from '@nexusflow/kit';
import { AuditEntry } from '../entities/audit-entry.entity.ts';
import { CURRENT_HASH_VERSION, entryHash, GENESIS_HASH, type HashedContent } from './chain.ts';

/** What an append is given: everything but the position in the chain, which the append decides under the lock. */
export type NewAuditEntry = Omit<HashedContent, 'sequence'>;

export type ChainBreakReason = 'CONTENT' | 'LINK' | 'GAP' | 'TRUNCATED';

export interface ChainBreak {
  entryId: string | null;
  sequence: number;
  reason: ChainBreakReason;
  expected: string;
  found: string;
}

export interface TrailVerification {
  intact: boolean;
  checkedEntries: number;
  firstBreak: ChainBreak | null;
}

/** What a stored entry's hash covers, as read back (nullable columns read as null). */
function contentOf(entry: AuditEntry): HashedContent {
  return {
    tenantId: entry.tenantId,
    sequence: entry.sequence,
    occurredAt: entry.occurredAt,
    source: entry.source,
    actorKind: entry.actorKind,
    actorId: entry.actorId ?? null,
    action: entry.action,
    resourceType: entry.resourceType ?? null,
    resourceId: entry.resourceId ?? null,
    outcome: entry.outcome,
    details: entry.details,
    ipAddress: entry.ipAddress ?? null,
    userAgent: entry.userAgent ?? null,
    eventId: entry.eventId ?? null,
  };
}

/** The break of a trail whose newest entries are gone: it ends at `lastKept`, its chain head at `headSequence`. */
const truncated = (lastEntryId: string | null, lastKept: number, headSequence: string): ChainBreak => ({
  entryId: lastEntryId,
  sequence: lastKept + 1,
  reason: 'TRUNCATED',
  expected: headSequence,
  found: String(lastKept),
});

/** Entries read at once while verifying, so that a long trail is walked in bounded memory. */
const VERIFY_BATCH = 1000;

/**
 * A tenant's hash chain. Appends of one tenant are serialised on its chain head row (FOR UPDATE), in whichever process
 * they run, so that the chain never forks: each entry takes the next sequence and links to the entry before it.
 */
export class AuditTrail {
  /** @param chainKey the key of keyed hashes (AUDIT_CHAIN_KEY), kept out of the database the trail is in. */
  constructor(private readonly chainKey: string) {}

  /**
   * Appends one entry in a transaction of its own; returns nothing when `eventId` was recorded already (a redelivery).
   * @param em a unit of work of the tenant, or a system one
   */
  async append(em: EntityManager, entry: NewAuditEntry): Promise<AuditEntry | undefined> {
    const [appended] = await this.appendAll(em, [entry]);
    return appended;
  }

  /**
   * Appends the entries in one transaction, each tenant's in the order given, and returns each appended entry, or
   * nothing for one whose `eventId` was recorded already (before, or earlier in `entries`). The statements are as many
   * for a hundred entries as for one: what a busy tenant's trail keeps up with depends on it, since its appends wait for
   * each other on its chain head.
   * @param em a system unit of work, or one of the tenant all the entries are of
   */
  async appendAll(em: EntityManager, given: readonly NewAuditEntry[]): Promise<(AuditEntry | undefined)[]> {
    if (given.length === 0) return [];
    // As PostgreSQL reads the ids back, so that the hashes verify and a redelivery is recognised whatever their case.
    const entries = given.map((entry) => ({
      ...entry,
      tenantId: entry.tenantId.toLowerCase(),
      eventId: entry.eventId?.toLowerCase() ?? null,
    }));
    // In one order in every transaction, so that two appends of several tenants each cannot wait for each other.
    const tenants = [...new Set(entries.map(({ tenantId }) => tenantId))].sort();
    return em.transactional(async (tx) => {
      // One statement creates the heads a tenant lacks and locks every head (a conflict's update locks the row, as
      // FOR UPDATE does, and returns it as it is), in the tenants' order.
      const rows = await tx.execute<{ tenant_id: string; sequence: string | number; hash: string }[]>(
        `insert into "audit_chain_heads" ("tenant_id", "sequence", "hash", "pruned_through_sequence", "pruned_through_hash")
         values ${tenants.map(() => '(?, 0, ?, 0, ?)').join(', ')}
         on conflict ("tenant_id") do update set "tenant_id" = excluded."tenant_id"
         returning "tenant_id", "sequence", "hash"`,
        tenants.flatMap((tenantId) => [tenantId, GENESIS_HASH, GENESIS_HASH]),
      );
      const heads = new Map(rows.map((row) => [row.tenant_id, { sequence: Number(row.sequence), hash: row.hash }]));
      // Checked under the locks: a redelivery racing its first delivery waits for it, then finds it.
      const eventIds = entries.flatMap(({ eventId }) => (eventId ? [eventId] : []));
      const recorded = new Set(
        eventIds.length === 0
          ? []
          : (
              await tx.execute<{ event_id: string }[]>(
                `select "event_id" from "audit_entries" where "event_id" in (${eventIds.map(() => '?').join(', ')})`,
                eventIds,
              )
            ).map((row) => row.event_id),
      );
      const moved = new Set<string>();
      const appended = entries.map((entry) => {
        if (entry.eventId && recorded.has(entry.eventId)) return undefined;
        if (entry.eventId) recorded.add(entry.eventId);
        const head = heads.get(entry.tenantId)!;
        const content: HashedContent = { ...entry, sequence: head.sequence + 1 };
        const hash = entryHash(content, head.hash, this.chainKey, CURRENT_HASH_VERSION);
        const created = tx.create(AuditEntry, { ...content, prevHash: head.hash, hash, hashVersion: CURRENT_HASH_VERSION });
        heads.set(entry.tenantId, { sequence: content.sequence, hash });
        moved.add(entry.tenantId);
        return created;
      });
      for (const tenantId of tenants.filter((tenant) => moved.has(tenant))) {
        const head = heads.get(tenantId)!;
        await tx.execute(
          `update "audit_chain_heads" set "sequence" = ?, "hash" = ? where "tenant_id" = ?`,
          [head.sequence, head.hash, tenantId],
          'run',
        );
      }
      return appended;
    });
  }

  /**
   * Walks the tenant's chain over the entries recorded in [from, to), in order of sequence, recomputing each hash and
   * checking each link; stops at the first break. Entries pruned by retention are not a break: the oldest kept entry
   * links to the anchor its chain head kept when they went.
   * @param em a unit of work of the tenant
   */
  async verify(em: EntityManager, tenantId: string, from: Date | null, to: Date | null): Promise<TrailVerification> {
    // Read before the entries: an append commits its entry and the head together, so entries read after reach it.
    const [head] = await em.execute<{ sequence: string; hash: string; pruned_through_sequence: string }[]>(
      `select "sequence", "hash", "pruned_through_sequence" from "audit_chain_heads" where "tenant_id" = ?`,
      [tenantId],
    );
    const [bounds] = await em.execute<{ first: string | null; last: string | null }[]>(
      `select min("sequence") as "first", max("sequence") as "last" from "audit_entries"
       where "tenant_id" = ? and (?::timestamptz is null or "created_at" >= ?::timestamptz)
         and (?::timestamptz is null or "created_at" < ?::timestamptz)`,
      [tenantId, from, from, to, to],
    );
    if (!bounds?.first || !bounds.last) {
      const lost = to === null && head && Number(head.sequence) > Number(head.pruned_through_sequence);
      return lost
        ? { intact: false, checkedEntries: 0, firstBreak: truncated(null, Number(head.pruned_through_sequence), head.sequence) }
        : { intact: true, checkedEntries: 0, firstBreak: null };
    }
    const first = Number(bounds.first);
    const last = Number(bounds.last);
    const anchor = await this.hashBefore(em, tenantId, first);
    if (anchor === undefined) {
      const [oldest] = await em.find(AuditEntry, { tenantId, sequence: first });
      const missing = { entryId: oldest!.id, sequence: first, reason: 'GAP' as const, expected: String(first - 1), found: 'none' };
      return { intact: false, checkedEntries: 1, firstBreak: missing };
    }
    let expectedPrev = anchor;
    let expectedSequence = first;
    let checkedEntries = 0;
    let lastEntryId: string | null = null;
    while (expectedSequence <= last) {
      const batch = await em.find(
        AuditEntry,
        { tenantId, sequence: { $gte: expectedSequence, $lte: last } },
        { orderBy: { sequence: 'asc' }, limit: VERIFY_BATCH },
      );
      if (batch.length === 0) break;
      for (const entry of batch) {
        checkedEntries += 1;
        const broken = this.check(entry, expectedSequence, expectedPrev);
        if (broken) return { intact: false, checkedEntries, firstBreak: broken };
        if (head && entry.sequence === Number(head.sequence) && entry.hash !== head.hash)
          return {
            intact: false,
            checkedEntries,
            firstBreak: { entryId: entry.id, sequence: entry.sequence, reason: 'LINK', expected: head.hash, found: entry.hash },
          };
        expectedPrev = entry.hash;
        expectedSequence = entry.sequence + 1;
        lastEntryId = entry.id;
      }
      em.clear();
    }
    // The newest entries deleted: the rest still link up, but the chain head remembers how far the trail went.
    if (to === null && head && expectedSequence - 1 < Number(head.sequence))
      return { intact: false, checkedEntries, firstBreak: truncated(lastEntryId, expectedSequence - 1, head.sequence) };
    return { intact: true, checkedEntries, firstBreak: null };
  }

  private check(entry: AuditEntry, expectedSequence: number, expectedPrev: string): ChainBreak | undefined {
    const at = { entryId: entry.id, sequence: entry.sequence };
    if (entry.sequence !== expectedSequence)
      return { ...at, reason: 'GAP', expected: String(expectedSequence), found: String(entry.sequence) };
    if (entry.prevHash !== expectedPrev) return { ...at, reason: 'LINK', expected: expectedPrev, found: entry.prevHash };
    const recomputed = entryHash(contentOf(entry), entry.prevHash, this.chainKey, entry.hashVersion);
    if (recomputed !== entry.hash) return { ...at, reason: 'CONTENT', expected: recomputed, found: entry.hash };
    return undefined;
  }

  /** What the entry at `sequence` must link to; undefined when the one before it is missing unaccounted for. */
  private async hashBefore(em: EntityManager, tenantId: string, sequence: number): Promise<string | undefined> {
    if (sequence === 1) return GENESIS_HASH;
    const [previous] = await em.execute<{ hash: string }[]>(`select "hash" from "audit_entries" where "tenant_id" = ? and "sequence" = ?`, [
      tenantId,
      sequence - 1,
    ]);
    if (previous) return previous.hash;
    const [head] = await em.execute<{ pruned_through_sequence: string; pruned_through_hash: string }[]>(
      `select "pruned_through_sequence", "pruned_through_hash" from "audit_chain_heads" where "tenant_id" = ?`,
      [tenantId],
    );
    return head && Number(head.pruned_through_sequence) === sequence - 1 ? head.pruned_through_hash : undefined;
  }
}
