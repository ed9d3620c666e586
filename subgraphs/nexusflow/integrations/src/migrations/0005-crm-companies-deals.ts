import { Migration } from '@mikro-orm/migrations';

/**
 * Companies and deals on NexusFlow's side; sync runs that go through each kind of record in turn, one active run per
 * integration, and a worker's lease on a running run.
 */
export class CrmCompaniesAndDeals extends Migration {
  override name = '0005-crm-companies-deals';

  override up(): void {
    this.addSql(`create table "crm_companies" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "updated_at" timestamptz not null,
      "name" varchar(255) null, "domain" varchar(255) null, "industry" varchar(255) null, "phone" varchar(255) null,
      "custom" jsonb not null, primary key ("id"))`);
    this.addSql(`create index "crm_companies_tenant_id_index" on "crm_companies" ("tenant_id")`);
    this.addSql(`create table "crm_deals" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "updated_at" timestamptz not null,
      "name" varchar(255) null, "amount" numeric null, "currency" varchar(255) null, "stage" varchar(255) null,
      "close_date" date null, "company_id" uuid null, "custom" jsonb not null, primary key ("id"))`);
    this.addSql(`create index "crm_deals_tenant_id_index" on "crm_deals" ("tenant_id")`);
    this.addSql(`create index "crm_deals_company_id_index" on "crm_deals" ("company_id")`);
    this.addSql(
      `alter table "crm_sync_runs" add column "objects" jsonb null, add column "lease_holder" uuid null, add column "leased_until" timestamptz null`,
    );
    // Runs before this synced contacts only: their one part is their contacts'.
    this.addSql(`update "crm_sync_runs" set "objects" = jsonb_build_array(jsonb_build_object(
      'objectType', "object_type", 'pulled', "pulled", 'pushed', "pushed", 'conflicts', "conflicts",
      'pullHighWater', to_jsonb("pull_high_water")))`);
    this.addSql(`alter table "crm_sync_runs" alter column "objects" set not null`);
    // Of duplicates an earlier race left active, all but the newest end, so that the index below can be built.
    this.addSql(`update "crm_sync_runs" r set "status" = 'FAILED', "error" = 'Superseded by a newer run', "finished_at" = now()
      where r."status" in ('QUEUED', 'RUNNING') and exists (
        select 1 from "crm_sync_runs" n where n."integration_id" = r."integration_id" and n."status" in ('QUEUED', 'RUNNING')
          and (n."started_at", n."id") > (r."started_at", r."id"))`);
    this.addSql(
      `create unique index "crm_sync_runs_one_active_per_integration" on "crm_sync_runs" ("integration_id") where "status" in ('QUEUED', 'RUNNING')`,
    );
  }

  override down(): void {
    this.addSql(`drop index "crm_sync_runs_one_active_per_integration"`);
    this.addSql(`alter table "crm_sync_runs" drop column "objects", drop column "lease_holder", drop column "leased_until"`);
    this.addSql(`drop table "crm_deals"`);
    this.addSql(`drop table "crm_companies"`);
  }
}
