import { Migration } from '@mikro-orm/migrations';

export class InitialAuthServiceV2Schema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "oauth_clients" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "created_by" uuid not null,
      "name" varchar(255) not null, "client_type" text not null, "grant_types" jsonb not null, "redirect_uris" jsonb not null,
      "encrypted_secret" text null, "secret_issued_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "oauth_clients_tenant_id_index" on "oauth_clients" ("tenant_id")`);
    this.addSql(
      `alter table "oauth_clients" add constraint "oauth_clients_client_type_check" check ("client_type" in ('CONFIDENTIAL', 'PUBLIC'))`,
    );
    this.addSql(`create table "oauth_consents" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "user_id" uuid not null,
      "client_id" uuid not null, "scopes" jsonb not null, "grant_id" varchar(255) not null, "granted_at" timestamptz not null,
      primary key ("id"))`);
    this.addSql(`create index "oauth_consents_tenant_id_index" on "oauth_consents" ("tenant_id")`);
    this.addSql(`create index "oauth_consents_client_id_index" on "oauth_consents" ("client_id")`);
    this.addSql(`alter table "oauth_consents" add constraint "oauth_consents_user_id_client_id_unique" unique ("user_id", "client_id")`);
    this.addSql(`create table "oauth_signing_keys" (
      "id" uuid not null, "created_at" timestamptz not null, "algorithm" varchar(255) not null, "sealed_private_jwk" text not null,
      primary key ("id"))`);
    this.addSql(`create table "oauth_provider_records" (
      "key" varchar(255) not null, "model" varchar(255) not null, "payload" jsonb not null, "grant_id" varchar(255) null,
      "uid" varchar(255) null, "user_code" varchar(255) null, "client_id" varchar(255) null, "expires_at" timestamptz null,
      primary key ("key"))`);
    for (const column of ['grant_id', 'uid', 'user_code', 'client_id', 'expires_at']) {
      this.addSql(`create index "oauth_provider_records_${column}_index" on "oauth_provider_records" ("${column}")`);
    }
  }

  override down(): void {
    this.addSql('drop table "oauth_provider_records"');
    this.addSql('drop table "oauth_signing_keys"');
    this.addSql('drop table "oauth_consents"');
    this.addSql('drop table "oauth_clients"');
  }
}
