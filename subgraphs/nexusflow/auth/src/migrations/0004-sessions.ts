import { Migration } from '@mikro-orm/migrations';

export class Sessions extends Migration {
  override name = '0004-sessions';

  override up(): void {
    this.addSql(`create table "sessions" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "user_id" uuid not null,
      "user_agent" text null, "client_address" varchar(255) null, "last_seen_at" timestamptz not null,
      "expires_at" timestamptz not null, "revoked_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`create index "sessions_user_id_index" on "sessions" ("user_id")`);
    this.addSql(
      `alter table "sessions" add constraint "sessions_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade`,
    );
  }

  override down(): void {
    this.addSql('drop table "sessions"');
  }
}
