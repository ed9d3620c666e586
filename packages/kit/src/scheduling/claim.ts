import { LockMode, type EntityManager, type EntityName, type FilterQuery, type QueryOrderMap } from '@mikro-orm/postgresql';
import { systemFork, type Forkable } from '../storage/tenant-scope.ts';

export interface ClaimDueOptions<Entity extends object, Claimed> {
  database: Forkable;
  entity: EntityName<Entity>;
  /** The rows due now, e.g. `{ nextRunAt: { $lte: now } }`. */
  due: FilterQuery<Entity>;
  orderBy: QueryOrderMap<Entity>;
  limit: number;
  /**
   * Changes a locked row so that no instance finds it due again (advances its next run, or leases it until a deadline),
   * and says what the caller needs to do the work. Runs inside the claiming transaction: rows it creates with `tx`
   * commit with the claim.
   */
  claim: (row: Entity, tx: EntityManager) => Claimed | Promise<Claimed>;
}

/**
 * Claims due rows for this instance. The rows are locked with `FOR UPDATE SKIP LOCKED`: another instance claiming at
 * the same moment skips them rather than waits, and once this transaction commits they are no longer due, so each is
 * claimed by exactly one instance, however many run. The work is done after the commit, outside any lock.
 */
export async function claimDue<Entity extends object, Claimed>(options: ClaimDueOptions<Entity, Claimed>): Promise<Claimed[]> {
  return systemFork(options.database).transactional(async (tx) => {
    const rows = await tx.find(
      options.entity,
      options.due as never,
      {
        orderBy: options.orderBy,
        limit: options.limit,
        lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE,
      } as never,
    );
    const claimed: Claimed[] = [];
    for (const row of rows as Entity[]) claimed.push(await options.claim(row, tx));
    return claimed;
  });
}
