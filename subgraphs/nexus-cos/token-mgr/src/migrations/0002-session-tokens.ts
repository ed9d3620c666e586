import { Migration } from '@mikro-orm/migrations';

export class SessionTokens extends Migration {
  override name = '0002-session-tokens';

  override up(): void {
    this.addSql(`create table "session_tokens" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "session_id" uuid not null,
      "user_id" uuid not null, "expires_at" timestamptz not null, primary key ("id"))`);
    this.addSql(`create index "session_tokens_tenant_id_index" on "session_tokens" ("tenant_id")`);
    this.addSql(`create index "session_tokens_session_id_index" on "session_tokens" ("session_id")`);
    this.addSql(`create index "session_tokens_expires_at_index" on "session_tokens" ("expires_at")`);
  }

  override down(): void {
    this.addSql('drop table "session_tokens"');
  }
}
