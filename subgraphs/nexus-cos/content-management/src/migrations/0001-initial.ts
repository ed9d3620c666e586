import { Migration } from '@mikro-orm/migrations';

export class InitialContentManagementSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "contents" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "creator_id" uuid not null,
      "status" varchar(255) not null, "current_version_number" int not null, "published_version_number" int null,
      "rejection_reason" text null, "updated_at" timestamptz not null, "published_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "contents_tenant_id_created_at_index" on "contents" ("tenant_id", "created_at")`);
    this.addSql(`create table "content_versions" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "content_id" uuid not null,
      "number" int not null, "title" varchar(200) not null, "description" text null, "tags" text[] not null,
      "language" varchar(35) not null, "duration_seconds" int null, "created_by" uuid not null, primary key ("id"))`);
    this.addSql(`create index "content_versions_tenant_id_index" on "content_versions" ("tenant_id")`);
    // Versions are numbered per content, once each: two edits at once cannot both become version n.
    this.addSql(
      `alter table "content_versions" add constraint "content_versions_content_id_number_unique" unique ("content_id", "number")`,
    );
    this.addSql(`create table "rights_windows" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "content_id" uuid not null,
      "starts_at" timestamptz not null, "ends_at" timestamptz null, "regions" text[] not null, primary key ("id"))`);
    this.addSql(`create index "rights_windows_tenant_id_index" on "rights_windows" ("tenant_id")`);
    this.addSql(`create index "rights_windows_content_id_index" on "rights_windows" ("content_id")`);
  }

  override down(): void {
    this.addSql('drop table "rights_windows"');
    this.addSql('drop table "content_versions"');
    this.addSql('drop table "contents"');
  }
}
