import { Migration } from '@mikro-orm/migrations';

export class InitialAuthSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "tenants" (
      "id" uuid not null, "name" varchar(255) not null, "slug" varchar(255) not null, "created_at" timestamptz not null,
      primary key ("id"))`);
    this.addSql(`alter table "tenants" add constraint "tenants_slug_unique" unique ("slug")`);

    this.addSql(`create table "users" (
      "id" uuid not null, "email" varchar(255) not null, "name" varchar(255) not null, "password_hash" varchar(255) not null,
      "roles" text[] not null, "tenant_id" uuid not null, "created_at" timestamptz not null,
      primary key ("id"))`);
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email")`);
    this.addSql(`create index "users_tenant_id_index" on "users" ("tenant_id")`);
    this.addSql(
      `alter table "users" add constraint "users_roles_check" check ("roles" <@ array['OWNER'::text, 'ADMIN'::text, 'MEMBER'::text, 'VIEWER'::text])`,
    );
    this.addSql(
      `alter table "users" add constraint "users_tenant_id_foreign" foreign key ("tenant_id") references "tenants" ("id") on delete cascade`,
    );

    this.addSql(`create table "refresh_tokens" (
      "id" uuid not null, "token_hash" varchar(255) not null, "family_id" uuid not null, "user_id" uuid not null,
      "expires_at" timestamptz not null, "used_at" timestamptz null, "revoked_at" timestamptz null, "created_at" timestamptz not null,
      primary key ("id"))`);
    this.addSql(`alter table "refresh_tokens" add constraint "refresh_tokens_token_hash_unique" unique ("token_hash")`);
    this.addSql(`create index "refresh_tokens_family_id_index" on "refresh_tokens" ("family_id")`);
    this.addSql(`create index "refresh_tokens_user_id_index" on "refresh_tokens" ("user_id")`);
    this.addSql(
      `alter table "refresh_tokens" add constraint "refresh_tokens_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade`,
    );
  }

  override down(): void {
    this.addSql('drop table "refresh_tokens"');
    this.addSql('drop table "users"');
    this.addSql('drop table "tenants"');
  }
}
