import { Migration } from '@mikro-orm/migrations';

export class StripeEventBackoff extends Migration {
  override name = '0002-stripe-event-backoff';

  override up(): void {
    this.addSql('alter table "stripe_events" add column "next_attempt_at" timestamptz null, add column "dead_at" timestamptz null');
  }

  override down(): void {
    this.addSql('alter table "stripe_events" drop column "next_attempt_at", drop column "dead_at"');
  }
}
