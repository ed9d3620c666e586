import { Migration } from '@mikro-orm/migrations';

/** SAML single sign-on: each tenant's IdP, the sign-ins sent to IdPs, and the assertions already used. */
export class Saml extends Migration {
  override name = '0009-saml';

  override up(): void {
    this.addSql(`create table "saml_connections" (
      "id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "tenant_id" uuid not null,
      "idp_entity_id" text not null, "sso_url" text not null, "signing_certificate" text not null,
      "certificate_fingerprint" varchar(255) not null, "certificate_expires_at" timestamptz not null,
      "jit_role" text check ("jit_role" in ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')) not null,
      "allowed_email_domains" text[] not null, "configured_by" uuid not null,
      primary key ("id"))`);
    this.addSql(`alter table "saml_connections" add constraint "saml_connections_tenant_id_unique" unique ("tenant_id")`);

    this.addSql(`create table "saml_requests" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "expires_at" timestamptz not null,
      primary key ("id"))`);
    this.addSql(`create index "saml_requests_expires_at_index" on "saml_requests" ("expires_at")`);

    this.addSql(`create table "used_saml_assertions" (
      "tenant_id" uuid not null, "assertion_id" varchar(255) not null, "expires_at" timestamptz not null,
      primary key ("tenant_id", "assertion_id"))`);
    this.addSql(`create index "used_saml_assertions_expires_at_index" on "used_saml_assertions" ("expires_at")`);
  }

  override down(): void {
    this.addSql('drop table "used_saml_assertions"');
    this.addSql('drop table "saml_requests"');
    this.addSql('drop table "saml_connections"');
  }
}
