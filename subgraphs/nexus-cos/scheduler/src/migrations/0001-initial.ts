import { Migration } from '@mikro-orm/migrations';

export class InitialSchedulerSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "scheduled_tasks" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "created_by" uuid not null,
      "name" varchar(255) not null, "target" varchar(255) not null, "path" text not null, "payload" jsonb null,
      "cron" varchar(255) null, "timezone" varchar(255) not null, "run_at" timestamptz null,
      "status" text check ("status" in ('ACTIVE', 'PAUSED', 'COMPLETED')) not null,
      "misfire_policy" text check ("misfire_policy" in ('SKIP', 'RUN_ONCE')) not null,
      "max_attempts" int not null, "timeout_seconds" int not null, "next_run_at" timestamptz null,
      "last_run_at" timestamptz null, "updated_at" timestamptz not null, "deleted_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`create index "scheduled_tasks_tenant_id_index" on "scheduled_tasks" ("tenant_id")`);
    this.addSql(`create index "scheduled_tasks_status_next_run_at_index" on "scheduled_tasks" ("status", "next_run_at")`);
    this.addSql(`create table "task_runs" (
      "id" uuid not null, "tenant_id" uuid not null, "task_id" uuid not null, "deliver_as" uuid not null,
      "scheduled_for" timestamptz not null, "target" varchar(255) not null, "path" text not null, "payload" jsonb null,
      "timeout_seconds" int not null,
      "status" text check ("status" in ('PENDING', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED')) not null,
      "attempts" int not null, "max_attempts" int not null, "next_attempt_at" timestamptz null, "response_code" int null,
      "error" text null, "duration_ms" int null, "finished_at" timestamptz null, primary key ("id"))`);
    this.addSql(`alter table "task_runs" add constraint "task_runs_task_id_scheduled_for_unique" unique ("task_id", "scheduled_for")`);
    this.addSql(`create index "task_runs_status_next_attempt_at_index" on "task_runs" ("status", "next_attempt_at")`);
  }

  override down(): void {
    this.addSql('drop table "task_runs"');
    this.addSql('drop table "scheduled_tasks"');
  }
}
