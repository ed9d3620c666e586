import { Migration } from '@mikro-orm/migrations';

/**
 * Entries from now on are hashed with HMAC-SHA256 under AUDIT_CHAIN_KEY (version 2); those written before keep their
 * SHA-256 hashes (version 1), which verification still checks as such. Adding a column fires no row trigger, so the
 * append-only rule is untouched.
 */
export class KeyedAuditHashes extends Migration {
  override name = '0002-keyed-hashes';

  override up(): void {
    this.addSql(`alter table "audit_entries" add column "hash_version" smallint not null default 1`);
    this.addSql(`alter table "audit_entries" alter column "hash_version" drop default`);
  }

  override down(): void {
    this.addSql(`alter table "audit_entries" drop column "hash_version"`);
  }
}
