import { callSubgraph, TenantAnswerCache, type EventBus, type Identity, type Logger } from '@nexusflow/kit';
import { WorkflowExecutionQuotaDocument } from '../__generated__/billing-operations.ts';

/** Published by the billing service whenever a tenant's plan or status changes. */
export const SUBSCRIPTION_CHANGED = 'billing.subscription.changed';

export interface ExecutionQuotaOptions {
  /** The billing subgraph's GraphQL endpoint. */
  billingUrl: string;
  internalSecret: string;
  logger: Logger;
  now: () => number;
  /** How long billing's answer is trusted before it is asked again. @default 60000 */
  ttlMs?: number;
  /** How long a run goes unchecked after billing could not be asked. @default 10000 */
  unavailableTtlMs?: number;
}

interface Known {
  used: number;
  limit: number | null;
  /** Runs this process started since billing answered: billing counts them only once their events reach it. */
  startedSince: number;
}

/**
 * Whether a tenant may start another run this month, cheaply: billing is asked once per tenant and minute (and again as
 * soon as its plan changes, on `billing.subscription.changed`), and the runs started here meanwhile are added to its
 * count. Billing unreachable lets runs through: an outage of billing must not stop every tenant's automations.
 */
export class ExecutionQuotaGuard {
  private readonly quotas: TenantAnswerCache<Known>;

  constructor(options: ExecutionQuotaOptions) {
    this.quotas = new TenantAnswerCache<Known>({
      ask: async (identity) => {
        const { executionQuota } = await callSubgraph({
          url: options.billingUrl,
          internalSecret: options.internalSecret,
          identity,
          query: WorkflowExecutionQuotaDocument,
          timeoutMs: 2_000,
        });
        return { used: executionQuota.used, limit: executionQuota.limit ?? null, startedSince: 0 };
      },
      whenUnavailable: () => ({ used: 0, limit: null, startedSince: 0 }),
      description: "a tenant's execution quota from billing (runs are not limited meanwhile)",
      logger: options.logger,
      now: options.now,
      ttlMs: options.ttlMs,
      unavailableTtlMs: options.unavailableTtlMs,
    });
  }

  /** The limit a run would go beyond, or null when it may start. */
  async exceeded(identity: Extract<Identity, { kind: 'user' }>): Promise<{ used: number; limit: number } | null> {
    const quota = await this.quotas.get(identity);
    if (quota.limit === null) return null;
    const used = quota.used + quota.startedSince;
    return used >= quota.limit ? { used, limit: quota.limit } : null;
  }

  /** A run of the tenant started: counted until billing's own count includes it. */
  started(tenantId: string): void {
    const quota = this.quotas.peek(tenantId);
    if (quota) quota.startedSince += 1;
  }

  forget(tenantId: string): void {
    this.quotas.forget(tenantId);
  }

  /** Forgets a tenant's quota as soon as billing says its plan changed. */
  listen(eventBus: EventBus, queue: string): Promise<{ stop(): Promise<void> }> {
    return this.quotas.listen(eventBus, queue, [SUBSCRIPTION_CHANGED]);
  }
}
