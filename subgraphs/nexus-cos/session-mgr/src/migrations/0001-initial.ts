import { Migration } from '@mikro-orm/migrations';

export class InitialSessionMgrSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "sessions" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "user_id" uuid not null,
      "roles" text[] not null, "user_agent" varchar(255) null, "client_address" varchar(255) null,
      "last_refreshed_at" timestamptz not null, "idle_expires_at" timestamptz not null,
      "absolute_expires_at" timestamptz not null, "revoked_at" timestamptz null, "revoked_reason" varchar(255) null,
      primary key ("id"))`);
    this.addSql(`create index "sessions_tenant_id_index" on "sessions" ("tenant_id")`);
    this.addSql(`create index "sessions_user_id_index" on "sessions" ("user_id")`);
  }

  override down(): void {
    this.addSql('drop table "sessions"');
  }
}
