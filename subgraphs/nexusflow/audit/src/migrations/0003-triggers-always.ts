import { Migration } from '@mikro-orm/migrations';

/**
 * The append-only triggers fire in every session, replication sessions included: an ordinary trigger does not fire
 * where `session_replication_role = replica`, which any superuser may set to rewrite entries unseen. Turning the
 * triggers off takes an ALTER TABLE now, which DDL logging records.
 */
export class AuditTriggersAlways extends Migration {
  override name = '0003-triggers-always';

  override up(): void {
    this.addSql(`alter table "audit_entries" enable always trigger "audit_entries_append_only"`);
    this.addSql(`alter table "audit_entries" enable always trigger "audit_entries_no_truncate"`);
  }

  override down(): void {
    this.addSql(`alter table "audit_entries" enable trigger "audit_entries_append_only"`);
    this.addSql(`alter table "audit_entries" enable trigger "audit_entries_no_truncate"`);
  }
}
