import { randomUUID } from 'node:crypto';
import { recordEvent, requireRole, Role, systemFork, type Database, type EntityManager, type Identity } from '@nexusflow/kit';
import { UsageRecord, type UsageOperation } from '../entities/usage-record.entity.ts';

const MAX_PAGE = 100;

export interface UsageEntry {
  userId: string | null;
  operation: UsageOperation;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  cacheHit: boolean;
  succeeded: boolean;
  failure: string | null;
  /** The prompt template the request was rendered from, when it was. */
  promptName?: string;
  promptVersion?: number;
}

/**
 * Every model call is written down for the tenant, and announced as `ai.usage.recorded` through the outbox in the same
 * transaction, so that billing and analytics count each one exactly as stored.
 */
export class UsageLedger {
  constructor(
    private readonly database: Database,
    private readonly onEventsRecorded: () => void,
    private readonly now: () => number,
  ) {}

  /** The rows of one request; written for the service, not the caller, so that a stream's end can record it too. */
  async record(tenantId: string, entries: readonly UsageEntry[]): Promise<UsageRecord[]> {
    if (entries.length === 0) return [];
    const em = systemFork(this.database);
    const requestId = randomUUID();
    const createdAt = new Date(this.now());
    const records = entries.map((entry) => {
      const record = em.create(UsageRecord, { ...entry, tenantId, requestId, createdAt });
      recordEvent(
        em,
        {
          type: 'ai.usage.recorded',
          tenantId,
          payload: { usageRecordId: record.id, requestId, ...entry, createdAt: createdAt.toISOString() },
        },
        createdAt,
      );
      return record;
    });
    await em.flush();
    this.onEventsRecorded();
    return records;
  }

  /** The caller's tenant's usage, newest first: for the OWNER and ADMINs who pay for it. */
  async list(em: EntityManager, identity: Identity, first: number): Promise<UsageRecord[]> {
    requireRole(identity, [Role.Owner, Role.Admin]);
    const limit = Math.min(Math.max(first, 0), MAX_PAGE);
    if (limit === 0) return [];
    return em.find(UsageRecord, {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }
}
