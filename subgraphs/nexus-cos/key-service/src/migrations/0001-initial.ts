import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TABLE_SQL } from '@nexusflow/kit';

export class InitialKeyServiceSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "tenant_keys" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "current_version" int not null,
      "rotated_at" timestamptz not null, primary key ("id"))`);
    this.addSql(`alter table "tenant_keys" add constraint "tenant_keys_tenant_id_unique" unique ("tenant_id")`);
    this.addSql(`create index "tenant_keys_rotated_at_index" on "tenant_keys" ("rotated_at")`);

    this.addSql(`create table "tenant_key_versions" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "tenant_key_id" uuid not null,
      "version" int not null, "state" text not null, "sealed_material" text null, "master_key_id" varchar(255) null,
      "retired_at" timestamptz null, "destroyed_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "tenant_key_versions_tenant_id_index" on "tenant_key_versions" ("tenant_id")`);
    this.addSql(`create index "tenant_key_versions_master_key_id_index" on "tenant_key_versions" ("master_key_id")`);
    this.addSql(
      `alter table "tenant_key_versions" add constraint "tenant_key_versions_tenant_key_id_version_unique" unique ("tenant_key_id", "version")`,
    );
    this.addSql(
      `alter table "tenant_key_versions" add constraint "tenant_key_versions_state_check" check ("state" in ('ACTIVE', 'RETIRED', 'DESTROYED'))`,
    );

    this.addSql(`create table "wrapped_secrets" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "tenant_key_id" uuid not null,
      "key_version" int not null, primary key ("id"))`);
    this.addSql(`create index "wrapped_secrets_tenant_key_id_key_version_index" on "wrapped_secrets" ("tenant_key_id", "key_version")`);

    this.addSql(`create table "key_audit_events" (
      "position" bigserial primary key, "id" uuid not null, "tenant_id" uuid not null, "occurred_at" timestamptz not null, "action" text not null,
      "outcome" text not null, "actor_kind" text not null, "actor_id" uuid null, "key_version" int null,
      "previous_key_version" int null, "purpose" varchar(200) null)`);
    this.addSql(`alter table "key_audit_events" add constraint "key_audit_events_id_unique" unique ("id")`);
    this.addSql(`create index "key_audit_events_tenant_id_position_index" on "key_audit_events" ("tenant_id", "position")`);
    this.addSql(
      `alter table "key_audit_events" add constraint "key_audit_events_action_check" check ("action" in ('ENCRYPT', 'DECRYPT', 'REWRAP', 'FORGET', 'ROTATE', 'DESTROY'))`,
    );
    this.addSql(
      `alter table "key_audit_events" add constraint "key_audit_events_outcome_check" check ("outcome" in ('SUCCEEDED', 'WRONG_PURPOSE', 'TAMPERED', 'UNKNOWN_KEY_VERSION', 'KEY_VERSION_DESTROYED', 'REFUSED'))`,
    );
    this.addSql(
      `alter table "key_audit_events" add constraint "key_audit_events_actor_kind_check" check ("actor_kind" in ('USER', 'SERVICE', 'SCHEDULE'))`,
    );

    for (const statement of OUTBOX_TABLE_SQL) this.addSql(statement);
  }

  override down(): void {
    for (const table of ['outbox_events', 'key_audit_events', 'wrapped_secrets', 'tenant_key_versions', 'tenant_keys']) {
      this.addSql(`drop table "${table}"`);
    }
  }
}
