import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TABLE_SQL } from '@nexusflow/kit';

/**
 * Users become people who may belong to several tenants: their tenant and roles move to memberships (one role each,
 * the first of the old roles), refresh tokens remember the tenant they sign into, and invitations and the outbox of
 * auth's events appear.
 */
export class Memberships extends Migration {
  override name = '0005-memberships';

  override up(): void {
    this.addSql(`create table "memberships" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "user_id" uuid not null,
      "role" text check ("role" in ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')) not null, "last_active_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`create index "memberships_tenant_id_index" on "memberships" ("tenant_id")`);
    this.addSql(`create index "memberships_user_id_index" on "memberships" ("user_id")`);
    this.addSql(`alter table "memberships" add constraint "memberships_tenant_id_user_id_unique" unique ("tenant_id", "user_id")`);
    // Exactly one owner per tenant: a transfer that would leave two (or a race of two) fails here.
    this.addSql(`create unique index "memberships_one_owner_per_tenant" on "memberships" ("tenant_id") where "role" = 'OWNER'`);
    this.addSql(
      `alter table "memberships" add constraint "memberships_tenant_id_foreign" foreign key ("tenant_id") references "tenants" ("id") on delete cascade`,
    );
    this.addSql(
      `alter table "memberships" add constraint "memberships_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade`,
    );
    this.addSql(`insert into "memberships" ("id", "created_at", "tenant_id", "user_id", "role", "last_active_at")
      select gen_random_uuid(), "created_at", "tenant_id", "id", "roles"[1], null from "users"`);

    this.addSql(`alter table "refresh_tokens" add column "tenant_id" uuid null`);
    this.addSql(
      `update "refresh_tokens" set "tenant_id" = "users"."tenant_id" from "users" where "users"."id" = "refresh_tokens"."user_id"`,
    );
    this.addSql(`alter table "refresh_tokens" alter column "tenant_id" set not null`);

    this.addSql(`alter table "users" drop constraint "users_tenant_id_foreign"`);
    this.addSql(`alter table "users" drop constraint "users_roles_check"`);
    this.addSql(`drop index "users_tenant_id_index"`);
    this.addSql(`alter table "users" drop column "tenant_id", drop column "roles"`);
    this.addSql(`alter table "users" alter column "password_hash" drop not null`);

    this.addSql(`create table "invitations" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "email" varchar(255) not null,
      "role" text check ("role" in ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')) not null, "invited_by" uuid null,
      "expires_at" timestamptz not null, "accepted_at" timestamptz null, "revoked_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`create index "invitations_tenant_id_index" on "invitations" ("tenant_id")`);

    for (const statement of OUTBOX_TABLE_SQL) this.addSql(statement);
  }

  override down(): void {
    this.addSql('drop table "outbox_events"');
    this.addSql('drop table "invitations"');
    this.addSql(`alter table "users" add column "tenant_id" uuid null, add column "roles" text[] null`);
    this.addSql(`update "users" set "tenant_id" = m."tenant_id", "roles" = array[m."role"] from (
      select distinct on ("user_id") "user_id", "tenant_id", "role" from "memberships" order by "user_id", "created_at") m
      where m."user_id" = "users"."id"`);
    this.addSql(`delete from "users" where "tenant_id" is null`);
    this.addSql(`alter table "users" alter column "tenant_id" set not null, alter column "roles" set not null`);
    this.addSql(`create index "users_tenant_id_index" on "users" ("tenant_id")`);
    this.addSql(
      `alter table "users" add constraint "users_roles_check" check ("roles" <@ array['OWNER'::text, 'ADMIN'::text, 'MEMBER'::text, 'VIEWER'::text])`,
    );
    this.addSql(
      `alter table "users" add constraint "users_tenant_id_foreign" foreign key ("tenant_id") references "tenants" ("id") on delete cascade`,
    );
    this.addSql(`alter table "refresh_tokens" drop column "tenant_id"`);
    this.addSql('drop table "memberships"');
  }
}
