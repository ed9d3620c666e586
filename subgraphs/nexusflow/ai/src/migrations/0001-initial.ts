import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TABLE_SQL } from '@nexusflow/kit';

export class InitialAiSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "usage_records" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "user_id" uuid null, "request_id" uuid not null,
      "operation" text not null, "provider" varchar(255) not null, "model" varchar(255) not null, "input_tokens" int not null,
      "output_tokens" int not null, "cost_usd" double precision not null, "latency_ms" int not null, "cache_hit" boolean not null,
      "succeeded" boolean not null, "failure" varchar(255) null, primary key ("id"))`);
    this.addSql(`create index "usage_records_tenant_id_created_at_index" on "usage_records" ("tenant_id", "created_at")`);
    this.addSql(
      `alter table "usage_records" add constraint "usage_records_operation_check" check ("operation" in ('COMPLETION', 'EMBEDDING'))`,
    );
    for (const statement of OUTBOX_TABLE_SQL) this.addSql(statement);
  }

  override down(): void {
    this.addSql('drop table "outbox_events"');
    this.addSql('drop table "usage_records"');
  }
}
