import { Migration } from '@mikro-orm/migrations';

export class InitialAuthServiceSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "sign_ins" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "user_id" uuid not null,
      "session_id" uuid not null, "client_address" varchar(255) null, "user_agent" varchar(255) null, primary key ("id"))`);
    this.addSql(`create index "sign_ins_tenant_id_index" on "sign_ins" ("tenant_id")`);
    this.addSql(`create index "sign_ins_user_id_index" on "sign_ins" ("user_id")`);
  }

  override down(): void {
    this.addSql('drop table "sign_ins"');
  }
}
