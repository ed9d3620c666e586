import { randomUUID } from 'node:crypto';
import { badUserInput, clientError, ErrorCode, systemFork, type Database, type EntityManager } from '@nexusflow/kit';
import { IntegrationActionReceipt } from '../entities/integration-action-receipt.entity.ts';

const MAX_KEY_LENGTH = 255;
const PRUNE_BATCH = 1000;

/**
 * What an idempotency key says of an action: never asked before (act, then {@link ActionReceipts.complete}), done
 * before (answer `result` and do nothing), or started before without a recorded outcome (its answer was lost between
 * the provider and this service: act again, at least once rather than at most once).
 */
export type ReceiptClaim = { kind: 'first' } | { kind: 'repeat'; result: Record<string, unknown> } | { kind: 'unfinished' };

export interface ActionReceiptsOptions {
  database: Database;
  /** INTEGRATIONS_ACTION_RECEIPT_RETENTION_DAYS, in seconds. */
  retentionSeconds: number;
  now: () => number;
}

/** The receipts of actions asked for with an idempotency key (see the entity), per tenant. */
export class ActionReceipts {
  constructor(private readonly options: ActionReceiptsOptions) {}

  /**
   * Records that `action` is under way under `key`, unless it was before. In a transaction, a second claim of the same
   * key waits for the first's transaction to end, so that an action done in the claim's transaction is done once.
   */
  async claim(em: EntityManager, tenantId: string, key: string, action: string): Promise<ReceiptClaim> {
    if (key.trim() === '' || key.length > MAX_KEY_LENGTH) {
      throw badUserInput(`idempotencyKey must have 1 to ${MAX_KEY_LENGTH} characters`, { field: 'idempotencyKey' });
    }
    const inserted = await em
      .createQueryBuilder(IntegrationActionReceipt)
      .insert({
        id: randomUUID(),
        createdAt: new Date(this.options.now()),
        tenantId,
        idempotencyKey: key,
        action,
        result: null,
        completedAt: null,
      })
      .onConflict(['tenantId', 'idempotencyKey'])
      .ignore()
      .execute<{ affectedRows: number }>('run');
    if (inserted.affectedRows > 0) return { kind: 'first' };
    const earlier = await em.findOneOrFail(IntegrationActionReceipt, { tenantId, idempotencyKey: key }, { refresh: true });
    if (earlier.action !== action) {
      throw clientError(ErrorCode.Conflict, `This idempotencyKey was used for ${earlier.action}, not ${action}`, {
        field: 'idempotencyKey',
      });
    }
    return earlier.completedAt && earlier.result ? { kind: 'repeat', result: earlier.result } : { kind: 'unfinished' };
  }

  async complete(em: EntityManager, tenantId: string, key: string, result: Record<string, unknown>): Promise<void> {
    await em.nativeUpdate(
      IntegrationActionReceipt,
      { tenantId, idempotencyKey: key },
      { result, completedAt: new Date(this.options.now()) },
    );
  }

  /** Forgets receipts older than the retention: a retry after that acts again. Returns how many. */
  async prune(): Promise<number> {
    const em = systemFork(this.options.database);
    const cutoff = new Date(this.options.now() - this.options.retentionSeconds * 1000);
    let pruned = 0;
    for (;;) {
      const old = await em.find(IntegrationActionReceipt, { createdAt: { $lt: cutoff } }, { fields: ['id'], limit: PRUNE_BATCH });
      if (old.length === 0) return pruned;
      pruned += await em.nativeDelete(IntegrationActionReceipt, { id: { $in: old.map((receipt) => receipt.id) } });
      em.clear();
    }
  }
}
