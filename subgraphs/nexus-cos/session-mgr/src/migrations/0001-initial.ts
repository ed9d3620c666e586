import { Migration } from '@mikro-orm/migrations';

export class InitialSessionMgrSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "sessions" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "created_by" uuid not null,
      "name" varchar(255) not null, primary key ("id"))`);
    this.addSql(`create index "sessions_tenant_id_index" on "sessions" ("tenant_id")`);
  }

  override down(): void {
    this.addSql('drop table "sessions"');
  }
}
