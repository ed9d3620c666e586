import { Migration } from '@mikro-orm/migrations';

/**
 * A delivery records when its next attempt is due, so that one whose message never reached the broker, or was lost, is
 * queued again, and two messages for one delivery make one attempt at a time. Pending deliveries are due now.
 */
export class DeliveryAttemptsDue extends Migration {
  override name = '0005-delivery-attempts-due';

  override up(): void {
    this.addSql('alter table "deliveries" add column "next_attempt_at" timestamptz null');
    this.addSql(`update "deliveries" set "next_attempt_at" = now() where "status" = 'PENDING'`);
    this.addSql('create index "deliveries_status_next_attempt_at_index" on "deliveries" ("status", "next_attempt_at")');
  }

  override down(): void {
    this.addSql('drop index "deliveries_status_next_attempt_at_index"');
    this.addSql('alter table "deliveries" drop column "next_attempt_at"');
  }
}
