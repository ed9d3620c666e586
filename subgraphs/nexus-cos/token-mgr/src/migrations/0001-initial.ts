import { Migration } from '@mikro-orm/migrations';

export class InitialTokenMgrSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "signing_keys" (
      "id" uuid not null, "created_at" timestamptz not null, "algorithm" varchar(255) not null, "public_jwk" jsonb not null,
      "sealed_private_key" text not null, "published_at" timestamptz not null, "activates_at" timestamptz not null,
      "retires_at" timestamptz null, "expires_at" timestamptz null, primary key ("id"))`);
    // One successor per activation time: instances rotating at once agree on one key.
    this.addSql(`create unique index "signing_keys_activates_at_unique" on "signing_keys" ("activates_at")`);
    this.addSql(`create index "signing_keys_expires_at_index" on "signing_keys" ("expires_at")`);
    this.addSql(`create table "revoked_tokens" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "revoked_by" uuid not null,
      "expires_at" timestamptz not null, primary key ("id"))`);
    this.addSql(`create index "revoked_tokens_tenant_id_index" on "revoked_tokens" ("tenant_id")`);
    this.addSql(`create index "revoked_tokens_expires_at_index" on "revoked_tokens" ("expires_at")`);
  }

  override down(): void {
    this.addSql('drop table "revoked_tokens"');
    this.addSql('drop table "signing_keys"');
  }
}
