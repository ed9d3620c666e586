import type { EntityManager } from '@nexusflow/kit';

export interface PruneResult {
  tenantId: string;
  deleted: number;
}

/**
 * Deletes entries past their tenant's retention, for tenants under no legal hold: the one path through the table's
 * append-only trigger (migration 0001), which lets a DELETE through only in a transaction that set `audit.prune`
 * (SET LOCAL, gone at its end) and only of an entry that is past retention of a tenant under no hold, checking both
 * again itself. It deletes the oldest part of a chain only (a prefix of sequences, every entry of it expired), and
 * moves the chain head's anchor to the last deleted entry's hash, so that `verifyAuditTrail` still proves the rest.
 */
export async function pruneExpiredEntries(system: EntityManager): Promise<PruneResult[]> {
  const tenants = await system.execute<{ tenant_id: string }[]>(
    `select "tenant_id" from "audit_settings" where "retention_days" is not null and "legal_hold_placed_at" is null`,
  );
  const results: PruneResult[] = [];
  for (const { tenant_id: tenantId } of tenants) {
    const deleted = await system.fork().transactional(async (tx) => {
      // A tenant's first pruning after a long retention deletes a large prefix in one statement, which may outlast the
      // pool's statement timeout (a backstop for statements that run away); cancelled, it would be cancelled again on
      // every later run and never get through.
      await tx.execute('set local statement_timeout = 0');
      const [head] = await tx.execute<{ sequence: string }[]>(
        `select "sequence" from "audit_chain_heads" where "tenant_id" = ? for update`,
        [tenantId],
      );
      if (!head) return 0;
      // Retention and hold are read again under the chain head lock: a hold placed since the list above stops it.
      const [through] = await tx.execute<{ sequence: string | null }[]>(
        `select coalesce(
           (select min(e."sequence") - 1 from "audit_entries" as e
            where e."tenant_id" = s."tenant_id" and e."occurred_at" >= now() - make_interval(days => s."retention_days")),
           ?) as "sequence"
         from "audit_settings" as s
         where s."tenant_id" = ? and s."retention_days" is not null and s."legal_hold_placed_at" is null`,
        [Number(head.sequence), tenantId],
      );
      const last = Number(through?.sequence ?? 0);
      if (last < 1) return 0;
      const [anchor] = await tx.execute<{ sequence: string; hash: string }[]>(
        `select "sequence", "hash" from "audit_entries" where "tenant_id" = ? and "sequence" <= ? order by "sequence" desc limit 1`,
        [tenantId, last],
      );
      if (!anchor) return 0;
      await tx.execute(`select set_config('audit.prune', 'on', true)`);
      const result = await tx.execute<{ affectedRows: number }>(
        `delete from "audit_entries" where "tenant_id" = ? and "sequence" <= ?`,
        [tenantId, last],
        'run',
      );
      await tx.execute(
        `update "audit_chain_heads" set "pruned_through_sequence" = ?, "pruned_through_hash" = ? where "tenant_id" = ?`,
        [Number(anchor.sequence), anchor.hash, tenantId],
        'run',
      );
      return result.affectedRows;
    });
    if (deleted > 0) results.push({ tenantId, deleted });
  }
  return results;
}
