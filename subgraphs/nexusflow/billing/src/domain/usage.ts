import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { isUuid, systemFork, type Database, type DomainEvent } from '@nexusflow/kit';
import { CountedEvent } from '../entities/counted-event.entity.ts';

/** The events usage is counted from, as the workflows and ai services publish them. */
export const EXECUTION_STARTED = 'workflow.execution.started';
export const AI_USAGE_RECORDED = 'ai.usage.recorded';
export const USAGE_BINDINGS = [EXECUTION_STARTED, AI_USAGE_RECORDED];

/** The calendar month (UTC) that holds `at`: the period usage is counted and limited by. */
export function monthOf(at: number): { start: Date; end: Date } {
  const day = new Date(at);
  return {
    start: new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1)),
    end: new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth() + 1, 1)),
  };
}

const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : 0);

/** What one event adds: an execution started, or a model call's input and output tokens. */
function increments(event: DomainEvent): { executions: number; aiTokens: number } {
  if (event.type === EXECUTION_STARTED) return { executions: 1, aiTokens: 0 };
  if (event.type === AI_USAGE_RECORDED)
    return { executions: 0, aiTokens: count(event.payload.inputTokens) + count(event.payload.outputTokens) };
  return { executions: 0, aiTokens: 0 };
}

/**
 * Billing's own counters of what each tenant used this month, fed by the bus: each event is counted once however often
 * it is delivered (its id is stored in the same transaction as the increment).
 */
export class UsageCounters {
  constructor(private readonly database: Database) {}

  async count(event: DomainEvent): Promise<boolean> {
    const tenantId = event.tenantId ?? (typeof event.payload.tenantId === 'string' ? event.payload.tenantId : undefined);
    const { executions, aiTokens } = increments(event);
    if (!tenantId || !isUuid(tenantId) || !isUuid(event.id) || executions + aiTokens === 0) return false;
    const periodStart = monthOf(Date.parse(event.occurredAt) || Date.now()).start;
    try {
      return await systemFork(this.database).transactional(async (em) => {
        if (await em.findOne(CountedEvent, { eventId: event.id })) return false;
        em.create(CountedEvent, { eventId: event.id, countedAt: new Date() });
        await em.flush();
        // One statement, so that concurrent events of a tenant add up rather than overwrite each other.
        await em.getConnection().execute(
          `insert into "usage_counters" ("id", "created_at", "tenant_id", "period_start", "executions", "ai_tokens")
           values (?, now(), ?, ?::timestamptz, ?, ?)
           on conflict ("tenant_id", "period_start") do update
           set "executions" = "usage_counters"."executions" + excluded."executions", "ai_tokens" = "usage_counters"."ai_tokens" + excluded."ai_tokens"`,
          [crypto.randomUUID(), tenantId, periodStart.toISOString(), executions, aiTokens],
          'run',
          em.getTransactionContext(),
        );
        return true;
      });
    } catch (error) {
      // The same event counted by another consumer at the same moment: it counts once.
      if (error instanceof UniqueConstraintViolationException) return false;
      throw error;
    }
  }
}
