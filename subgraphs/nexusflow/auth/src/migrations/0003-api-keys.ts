import { Migration } from '@mikro-orm/migrations';

export class ApiKeys extends Migration {
  override name = '0003-api-keys';

  override up(): void {
    this.addSql(`create table "api_keys" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "name" varchar(255) not null,
      "scopes" text[] not null, "prefix" varchar(255) not null, "secret_hash" varchar(255) not null, "created_by" uuid not null,
      "expires_at" timestamptz null, "last_used_at" timestamptz null, "revoked_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`create index "api_keys_tenant_id_index" on "api_keys" ("tenant_id")`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_secret_hash_unique" unique ("secret_hash")`);
  }

  override down(): void {
    this.addSql('drop table "api_keys"');
  }
}
