import { systemFork, type DomainEvent, type EntityManager, type Forkable } from '@nexusflow/kit';
import { rowOfEvent, type EventRow } from './events.ts';
import type { MonthlyPartitions } from './partitions.ts';

export type Ingested = 'stored' | 'alreadyStored' | 'ignored';

const INSERT = `insert into "analytics_events" ("id", "occurred_at", "created_at", "tenant_id", "type", "user_id", "subject_id",
  "subject_ids", "duration_ms", "status", "tokens", "payload") values (?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?::jsonb)
  on conflict ("id", "occurred_at") do nothing`;

/** PostgreSQL's code for a row no partition accepts: its month's partition was dropped (or never made) since it was checked. */
const NO_PARTITION = '23514';

/** Stores each bus event once by its id: a redelivery (the same id and time) inserts nothing. */
export class EventIngestion {
  constructor(
    private readonly database: Forkable,
    private readonly partitions: MonthlyPartitions,
    private readonly now: () => number,
  ) {}

  async ingest(event: DomainEvent): Promise<Ingested> {
    const row = rowOfEvent(event);
    if (!row) return 'ignored';
    const em = systemFork(this.database);
    await this.partitions.ensureFor(em, row.occurredAt);
    return (await this.insert(em, row)) ? 'stored' : 'alreadyStored';
  }

  private async insert(em: EntityManager, row: EventRow): Promise<boolean> {
    const values = [
      row.id,
      row.occurredAt,
      new Date(this.now()),
      row.tenantId,
      row.type,
      row.userId,
      row.subjectId,
      JSON.stringify(row.subjectIds),
      row.durationMs,
      row.status,
      row.tokens,
      JSON.stringify(row.payload),
    ];
    try {
      const result = await em.execute<{ affectedRows: number }>(INSERT, values, 'run');
      return result.affectedRows > 0;
    } catch (error) {
      if ((error as { code?: string }).code !== NO_PARTITION) throw error;
      await this.partitions.remake(em, row.occurredAt);
      return (await em.execute<{ affectedRows: number }>(INSERT, values, 'run')).affectedRows > 0;
    }
  }
}
