import { Migration } from '@mikro-orm/migrations';

export class InitialAuthSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "tenants" (
      "id" uuid primary key,
      "name" varchar(255) not null,
      "slug" varchar(255) not null unique,
      "created_at" timestamptz not null
    )`);
    this.addSql(`create table "users" (
      "id" uuid primary key,
      "email" varchar(255) not null unique,
      "name" varchar(255) not null,
      "password_hash" varchar(255) not null,
      "roles" text[] not null,
      "tenant_id" uuid not null references "tenants" ("id") on delete cascade,
      "created_at" timestamptz not null
    )`);
    this.addSql(`create index "users_tenant_id_index" on "users" ("tenant_id")`);
    this.addSql(`create table "refresh_tokens" (
      "id" uuid primary key,
      "token_hash" varchar(255) not null unique,
      "family_id" uuid not null,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "expires_at" timestamptz not null,
      "used_at" timestamptz null,
      "revoked_at" timestamptz null,
      "created_at" timestamptz not null
    )`);
    this.addSql(`create index "refresh_tokens_family_id_index" on "refresh_tokens" ("family_id")`);
  }

  override down(): void {
    this.addSql('drop table "refresh_tokens"');
    this.addSql('drop table "users"');
    this.addSql('drop table "tenants"');
  }
}
