import { Migration } from '@mikro-orm/migrations';

export class ReportsAndExportJobsSchema extends Migration {
  override name = '0002-reports-and-export-jobs';

  override up(): void {
    this.addSql(`create table "analytics_reports" ("id" uuid not null, "created_at" timestamptz not null,
      "updated_at" timestamptz not null, "tenant_id" uuid not null, "name" varchar(255) not null, "kind" varchar(255) not null,
      "period" varchar(255) not null, "metric" varchar(255) null, "bucket" varchar(255) null, "format" varchar(255) not null,
      "created_by" uuid not null, "schedule_cron" varchar(255) null, "schedule_time_zone" varchar(255) null,
      "recipient_user_ids" jsonb not null, "next_run_at" timestamptz null, "last_run_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "analytics_reports_tenant_id_index" on "analytics_reports" ("tenant_id")`);
    this.addSql(`create index "analytics_reports_next_run_at_index" on "analytics_reports" ("next_run_at")`);

    this.addSql(`create table "analytics_report_deliveries" ("id" uuid not null, "created_at" timestamptz not null,
      "tenant_id" uuid not null, "report_id" uuid not null, "scheduled_for" timestamptz not null, "attempts" int not null,
      "next_attempt_at" timestamptz not null, "sent_at" timestamptz null, "last_error" text null, primary key ("id"))`);
    this.addSql(`create index "analytics_report_deliveries_sent_at_index" on "analytics_report_deliveries" ("sent_at")`);
    this.addSql(`alter table "analytics_report_deliveries" add constraint "analytics_report_deliveries_report_id_scheduled_for_unique"
      unique ("report_id", "scheduled_for")`);

    this.addSql(`create table "analytics_export_jobs" ("id" uuid not null, "created_at" timestamptz not null,
      "updated_at" timestamptz not null, "tenant_id" uuid not null, "requested_by" uuid not null,
      "period_from" timestamptz not null, "period_to" timestamptz not null, "format" varchar(255) not null,
      "status" varchar(255) not null, "rows" bigint not null, "bytes" bigint not null, "attempts" int not null,
      "error" text null, "lease_expires_at" timestamptz null, "storage_key" varchar(255) null, "finished_at" timestamptz null,
      "expires_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "analytics_export_jobs_tenant_id_index" on "analytics_export_jobs" ("tenant_id")`);
    this.addSql(`create index "analytics_export_jobs_status_index" on "analytics_export_jobs" ("status")`);
    this.addSql(`create index "analytics_export_jobs_expires_at_index" on "analytics_export_jobs" ("expires_at")`);
  }

  override down(): void {
    this.addSql(`drop table "analytics_export_jobs"`);
    this.addSql(`drop table "analytics_report_deliveries"`);
    this.addSql(`drop table "analytics_reports"`);
  }
}
