import { isUuid, systemFork, utcDay, type Database, type DomainEvent } from '@nexusflow/kit';

/** The events usage is counted from, as the workflows and ai services publish them. */
export const EXECUTION_STARTED = 'workflow.execution.started';
export const AI_USAGE_RECORDED = 'ai.usage.recorded';
export const USAGE_BINDINGS = [EXECUTION_STARTED, AI_USAGE_RECORDED];

/** The calendar month (UTC) that holds `at`: the period usage is counted and limited by. */
export function monthOf(at: number): { start: Date; end: Date } {
  const day = new Date(at);
  return {
    start: utcDay(day.getUTCFullYear(), day.getUTCMonth(), 1),
    end: utcDay(day.getUTCFullYear(), day.getUTCMonth() + 1, 1),
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
 * Records the event as counted and adds it to its tenant's counter of the month, in one statement: both or neither, and
 * nothing if the event was counted before. One statement, so that concurrent events of a tenant add up rather than
 * overwrite each other, and a redelivery racing its first delivery waits for it on the event's key, then adds nothing.
 */
const COUNT_ONCE_SQL = `with "counted" as (
    insert into "counted_events" ("event_id", "counted_at") values (?, now()) on conflict ("event_id") do nothing returning "event_id"
  ), "added" as (
    insert into "usage_counters" ("id", "created_at", "tenant_id", "period_start", "executions", "ai_tokens")
    select ?, now(), ?, ?::timestamptz, ?, ? where exists (select 1 from "counted")
    on conflict ("tenant_id", "period_start") do update
    set "executions" = "usage_counters"."executions" + excluded."executions", "ai_tokens" = "usage_counters"."ai_tokens" + excluded."ai_tokens"
    returning 1
  )
  select exists (select 1 from "counted") as "counted"`;

/**
 * Billing's own counters of what each tenant used this month, fed by the bus: each event is counted once however often
 * it is delivered (its id is stored with the increment, in one statement).
 */
export class UsageCounters {
  constructor(private readonly database: Database) {}

  async count(event: DomainEvent): Promise<boolean> {
    const tenantId = event.tenantId ?? (typeof event.payload.tenantId === 'string' ? event.payload.tenantId : undefined);
    const { executions, aiTokens } = increments(event);
    if (!tenantId || !isUuid(tenantId) || !isUuid(event.id) || executions + aiTokens === 0) return false;
    const periodStart = monthOf(Date.parse(event.occurredAt) || Date.now()).start;
    const [result] = await systemFork(this.database)
      .getConnection()
      .execute<{ counted: boolean }[]>(COUNT_ONCE_SQL, [
        event.id,
        crypto.randomUUID(),
        tenantId,
        periodStart.toISOString(),
        executions,
        aiTokens,
      ]);
    return result?.counted === true;
  }
}
