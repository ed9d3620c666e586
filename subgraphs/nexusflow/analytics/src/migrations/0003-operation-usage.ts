import { Migration } from '@mikro-orm/migrations';

export class OperationUsageTables extends Migration {
  override name = '0003-operation-usage';

  override up(): void {
    // Hourly per (tenant, client, version, operation): what tenant admins read. Its unique key leads with the tenant and
    // the hour, so that a tenant's period is one range of it, and is what each report's upsert adds to.
    this.addSql(`create table "operation_usage" ("id" uuid not null, "tenant_id" uuid not null, "hour" timestamptz not null,
      "client_name" varchar(128) not null, "client_version" varchar(128) not null, "operation_hash" varchar(64) not null,
      "operation_name" varchar(255) null, "operation_type" varchar(16) not null, "count" bigint not null,
      "error_count" bigint not null, "error_codes" jsonb not null, "duration_ms_sum" double precision not null,
      "duration_buckets" jsonb not null, "last_seen_at" timestamptz not null, primary key ("id"))`);
    this.addSql(`alter table "operation_usage" add constraint "operation_usage_hourly_unique"
      unique ("tenant_id", "hour", "client_name", "client_version", "operation_hash")`);

    // Daily per (tenant, coordinate, client, version): what schema checks read, by coordinate and day across tenants.
    this.addSql(`create table "coordinate_usage" ("id" uuid not null, "tenant_id" uuid not null, "day" timestamptz not null,
      "coordinate" varchar(512) not null, "client_name" varchar(128) not null, "client_version" varchar(128) not null,
      "count" bigint not null, "last_seen_at" timestamptz not null, primary key ("id"))`);
    this.addSql(`create index "coordinate_usage_coordinate_day_index" on "coordinate_usage" ("coordinate", "day")`);
    this.addSql(`alter table "coordinate_usage" add constraint "coordinate_usage_daily_unique"
      unique ("tenant_id", "day", "coordinate", "client_name", "client_version")`);

    this.addSql(`create table "usage_report_receipts" ("id" uuid not null, "received_at" timestamptz not null, primary key ("id"))`);
    this.addSql(`create index "usage_report_receipts_received_at_index" on "usage_report_receipts" ("received_at")`);
  }

  override down(): void {
    this.addSql(`drop table "usage_report_receipts"`);
    this.addSql(`drop table "coordinate_usage"`);
    this.addSql(`drop table "operation_usage"`);
  }
}
