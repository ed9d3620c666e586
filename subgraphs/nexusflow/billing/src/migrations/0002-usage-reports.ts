import { Migration } from '@mikro-orm/migrations';

export class UsageReportsSchema extends Migration {
  override name = '0002-usage-reports';

  override up(): void {
    this.addSql(`create table "usage_reports" ("id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null,
      "period_start" timestamptz not null, "meter" varchar(255) not null, "event_name" varchar(255) not null,
      "stripe_customer_id" varchar(255) not null, "quantity" bigint not null, "identifier" varchar(255) not null,
      "reported_at" timestamptz null, primary key ("id"))`);
    this.addSql(`alter table "usage_reports" add constraint "usage_reports_identifier_unique" unique ("identifier")`);
    this.addSql(`create index "usage_reports_reported_at_index" on "usage_reports" ("reported_at")`);
    this.addSql(`alter table "usage_reports" add constraint "usage_reports_tenant_id_period_start_meter_unique"
      unique ("tenant_id", "period_start", "meter")`);
  }

  override down(): void {
    this.addSql(`drop table "usage_reports"`);
  }
}
