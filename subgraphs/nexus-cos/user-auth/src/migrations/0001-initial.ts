import { Migration } from '@mikro-orm/migrations';

export class InitialUserAuthSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "organisations" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "name" varchar(255) not null,
      primary key ("id"))`);
    this.addSql(`alter table "organisations" add constraint "organisations_tenant_id_unique" unique ("tenant_id")`);
    this.addSql(`create table "users" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "email" varchar(255) not null,
      "name" varchar(255) not null, "role" text check ("role" in ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')) not null,
      "password_hash" text not null, "email_verified_at" timestamptz null, "deactivated_at" timestamptz null,
      "deactivated_by" uuid null, primary key ("id"))`);
    this.addSql(`create index "users_tenant_id_index" on "users" ("tenant_id")`);
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email")`);
    this.addSql(`create table "email_verifications" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "user_id" uuid not null,
      "email" varchar(255) not null, "token_hash" varchar(255) not null, "expires_at" timestamptz not null,
      "used_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "email_verifications_tenant_id_index" on "email_verifications" ("tenant_id")`);
    this.addSql(`create index "email_verifications_user_id_index" on "email_verifications" ("user_id")`);
    this.addSql(`alter table "email_verifications" add constraint "email_verifications_token_hash_unique" unique ("token_hash")`);
  }

  override down(): void {
    this.addSql('drop table "email_verifications"');
    this.addSql('drop table "users"');
    this.addSql('drop table "organisations"');
  }
}
