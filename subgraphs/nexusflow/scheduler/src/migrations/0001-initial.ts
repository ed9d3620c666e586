import { Migration } from '@mikro-orm/migrations';

export class InitialSchedulerSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "schedules" (
      "id" uuid not null, "tenant_id" uuid not null, "workflow_id" uuid not null, "created_by" uuid not null, "name" varchar(255) not null,
      "cron" varchar(255) null, "interval_seconds" int null, "timezone" varchar(255) not null, "input" jsonb null, "status" text not null,
      "misfire_policy" text not null, "next_run_at" timestamptz null, "last_run_at" timestamptz null, "created_at" timestamptz not null,
      "updated_at" timestamptz not null, "deleted_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "schedules_tenant_id_index" on "schedules" ("tenant_id")`);
    this.addSql(`create index "schedules_workflow_id_index" on "schedules" ("workflow_id")`);
    this.addSql(`create index "schedules_status_next_run_at_index" on "schedules" ("status", "next_run_at")`);
    this.addSql(`alter table "schedules" add constraint "schedules_status_check" check ("status" in ('ACTIVE', 'PAUSED'))`);
    this.addSql(`alter table "schedules" add constraint "schedules_misfire_policy_check" check ("misfire_policy" in ('SKIP', 'RUN_ONCE'))`);

    this.addSql(`create table "schedule_runs" (
      "id" uuid not null, "schedule_id" uuid not null, "scheduled_for" timestamptz not null, "fired_at" timestamptz not null,
      "outcome" text not null, "execution_id" uuid null, "error" text null, primary key ("id"))`);
    this.addSql(
      `alter table "schedule_runs" add constraint "schedule_runs_schedule_id_scheduled_for_unique" unique ("schedule_id", "scheduled_for")`,
    );
    this.addSql(
      `alter table "schedule_runs" add constraint "schedule_runs_outcome_check" check ("outcome" in ('TRIGGERED', 'SKIPPED', 'FAILED'))`,
    );
  }

  override down(): void {
    this.addSql('drop table "schedule_runs"');
    this.addSql('drop table "schedules"');
  }
}
