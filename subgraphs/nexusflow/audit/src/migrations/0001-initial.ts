import { Migration } from '@mikro-orm/migrations';

export class InitialAuditSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "audit_entries" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "sequence" bigint not null,
      "occurred_at" timestamptz not null, "source" varchar(255) not null, "actor_kind" varchar(255) not null,
      "actor_id" varchar(255) null, "action" varchar(255) not null, "resource_type" varchar(255) null,
      "resource_id" varchar(255) null, "outcome" varchar(255) not null, "details" jsonb not null,
      "ip_address" varchar(255) null, "user_agent" text null, "event_id" uuid null,
      "prev_hash" varchar(255) not null, "hash" varchar(255) not null, primary key ("id"))`);
    this.addSql(`alter table "audit_entries" add constraint "audit_entries_event_id_unique" unique ("event_id")`);
    this.addSql(`alter table "audit_entries" add constraint "audit_entries_tenant_id_sequence_unique" unique ("tenant_id", "sequence")`);
    this.addSql(`create index "audit_entries_tenant_id_occurred_at_index" on "audit_entries" ("tenant_id", "occurred_at")`);
    this.addSql(`create index "audit_entries_tenant_id_created_at_id_index" on "audit_entries" ("tenant_id", "created_at", "id")`);
    this.addSql(`create table "audit_chain_heads" (
      "tenant_id" uuid not null, "sequence" bigint not null, "hash" varchar(255) not null,
      "pruned_through_sequence" bigint not null, "pruned_through_hash" varchar(255) not null, primary key ("tenant_id"))`);
    this.addSql(`create table "audit_settings" (
      "tenant_id" uuid not null, "retention_days" int null, "legal_hold_reason" text null,
      "legal_hold_placed_at" timestamptz null, "legal_hold_placed_by" uuid null, primary key ("tenant_id"))`);
    // Append-only at the database: whatever the application does, UPDATE, DELETE and TRUNCATE of entries fail. The one
    // exception is retention: a DELETE in a transaction that set `audit.prune` to 'on' (SET LOCAL, see retention.ts)
    // passes for an entry older than its tenant's retention while no legal hold is in force, and for nothing else.
    this.addSql(`create function "audit_entries_append_only"() returns trigger language plpgsql as $$
      begin
        if tg_op = 'DELETE' and current_setting('audit.prune', true) = 'on' and exists (
          select 1 from "audit_settings" as s
          where s."tenant_id" = old."tenant_id" and s."retention_days" is not null and s."legal_hold_placed_at" is null
            and old."occurred_at" < now() - make_interval(days => s."retention_days")
        ) then
          return old;
        end if;
        raise exception 'audit entries are append-only: % refused', tg_op using errcode = 'insufficient_privilege';
      end
    $$`);
    this.addSql(`create trigger "audit_entries_append_only" before update or delete on "audit_entries"
      for each row execute function "audit_entries_append_only"()`);
    this.addSql(`create trigger "audit_entries_no_truncate" before truncate on "audit_entries"
      for each statement execute function "audit_entries_append_only"()`);
  }

  override down(): void {
    this.addSql('drop table "audit_entries"');
    this.addSql('drop function "audit_entries_append_only"');
    this.addSql('drop table "audit_chain_heads"');
    this.addSql('drop table "audit_settings"');
  }
}
