import { Migration } from '@mikro-orm/migrations';

export class InitialStreamcoreSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "stream_assets" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "created_by" uuid not null,
      "name" varchar(255) not null, primary key ("id"))`);
    this.addSql(`create index "stream_assets_tenant_id_index" on "stream_assets" ("tenant_id")`);
  }

  override down(): void {
    this.addSql('drop table "stream_assets"');
  }
}
