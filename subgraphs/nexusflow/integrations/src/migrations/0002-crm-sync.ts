import { Migration } from '@mikro-orm/migrations';

/** The tenants' CRM contacts, their links to each CRM's records, field mappings, sync runs and held conflicts. */
export class CrmSyncSchema extends Migration {
  override name = '0002-crm-sync';

  override up(): void {
    this.addSql(`create table "crm_contacts" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "updated_at" timestamptz not null,
      "email" varchar(255) null, "first_name" varchar(255) null, "last_name" varchar(255) null, "phone" varchar(255) null,
      "company" varchar(255) null, "custom" jsonb not null, primary key ("id"))`);
    this.addSql(`create index "crm_contacts_tenant_id_index" on "crm_contacts" ("tenant_id")`);
    this.addSql(`create table "crm_external_links" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "integration_id" uuid not null,
      "object_type" varchar(255) not null, "record_id" uuid not null, "external_id" varchar(255) not null,
      "provider_updated_at" timestamptz null, "local_updated_at" timestamptz not null, "content_hash" varchar(255) not null,
      "synced_at" timestamptz not null, primary key ("id"))`);
    this.addSql(`create index "crm_external_links_record_id_index" on "crm_external_links" ("record_id")`);
    this.addSql(
      `alter table "crm_external_links" add constraint "crm_external_links_integration_id_object_type_ext_723af_unique" unique ("integration_id", "object_type", "external_id")`,
    );
    this.addSql(
      `alter table "crm_external_links" add constraint "crm_external_links_integration_id_object_type_record_id_unique" unique ("integration_id", "object_type", "record_id")`,
    );
    this.addSql(`create table "crm_field_mapping_sets" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "integration_id" uuid not null,
      "object_type" varchar(255) not null, "mappings" jsonb not null, "conflict_policy" varchar(255) not null,
      "saved_by" uuid not null, primary key ("id"))`);
    this.addSql(
      `alter table "crm_field_mapping_sets" add constraint "crm_field_mapping_sets_integration_id_object_type_unique" unique ("integration_id", "object_type")`,
    );
    this.addSql(`create table "crm_sync_runs" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "integration_id" uuid not null,
      "object_type" varchar(255) not null, "status" varchar(255) not null, "phase" varchar(255) not null,
      "pull_since" timestamptz null, "pull_cursor" varchar(255) null, "pull_high_water" timestamptz null, "push_cursor" uuid null,
      "pulled" int not null, "pushed" int not null, "conflicts" int not null, "attempts" int not null, "error" text null,
      "started_at" timestamptz not null, "finished_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "crm_sync_runs_integration_id_index" on "crm_sync_runs" ("integration_id")`);
    this.addSql(`create table "crm_sync_conflicts" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "integration_id" uuid not null,
      "object_type" varchar(255) not null, "record_id" uuid not null, "external_id" varchar(255) not null,
      "nexusflow_values" jsonb not null, "provider_values" jsonb not null, "provider_updated_at" timestamptz null,
      "resolved_at" timestamptz null, "resolved_by" uuid null, "choice" varchar(255) null, primary key ("id"))`);
    this.addSql(`create index "crm_sync_conflicts_integration_id_index" on "crm_sync_conflicts" ("integration_id")`);
  }

  override down(): void {
    this.addSql('drop table "crm_sync_conflicts"');
    this.addSql('drop table "crm_sync_runs"');
    this.addSql('drop table "crm_field_mapping_sets"');
    this.addSql('drop table "crm_external_links"');
    this.addSql('drop table "crm_contacts"');
  }
}
