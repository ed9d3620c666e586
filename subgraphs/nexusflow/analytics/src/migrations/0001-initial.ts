import { Migration } from '@mikro-orm/migrations';

export class InitialAnalyticsSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    // Partitioned by month: a month's events are read together, and old months can be detached or dropped whole.
    // Partitions are made ahead of time and on demand by MonthlyPartitions, not here.
    this.addSql(`create table "analytics_events" (
      "id" uuid not null, "occurred_at" timestamptz not null, "created_at" timestamptz not null, "tenant_id" uuid not null,
      "type" varchar(255) not null, "user_id" varchar(255) null, "subject_id" varchar(255) null, "subject_ids" jsonb not null,
      "duration_ms" bigint null, "status" varchar(255) null, "tokens" bigint null, "payload" jsonb not null,
      primary key ("id", "occurred_at")) partition by range ("occurred_at")`);
    this.addSql(`create index "analytics_events_tenant_id_occurred_at_index" on "analytics_events" ("tenant_id", "occurred_at")`);
    this.addSql(
      `create index "analytics_events_tenant_id_type_occurred_at_index" on "analytics_events" ("tenant_id", "type", "occurred_at")`,
    );
  }

  override down(): void {
    this.addSql('drop table "analytics_events"');
  }
}
