import { Migration } from '@mikro-orm/migrations';

/**
 * Webhook delivery ids pruned by age (an index on when they arrived), rotated-out webhook secrets kept through a grace
 * period, and the receipts of actions sent with an idempotency key.
 */
export class WebhookRetentionAndActionReceipts extends Migration {
  override name = '0006-webhook-retention-and-action-receipts';

  override up(): void {
    this.addSql(`create index "integration_webhook_deliveries_created_at_index" on "integration_webhook_deliveries" ("created_at")`);
    this.addSql(`alter table "integration_webhook_secrets"
      add column "previous_sealed_secret" text null, add column "previous_expires_at" timestamptz null`);
    this.addSql(`create table "integration_action_receipts" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "idempotency_key" varchar(255) not null,
      "action" varchar(255) not null, "result" jsonb null, "completed_at" timestamptz null, primary key ("id"))`);
    this.addSql(`alter table "integration_action_receipts"
      add constraint "integration_action_receipts_key_unique" unique ("tenant_id", "idempotency_key")`);
    this.addSql(`create index "integration_action_receipts_created_at_index" on "integration_action_receipts" ("created_at")`);
  }

  override down(): void {
    this.addSql('drop table "integration_action_receipts"');
    this.addSql(`alter table "integration_webhook_secrets" drop column "previous_sealed_secret", drop column "previous_expires_at"`);
    this.addSql('drop index "integration_webhook_deliveries_created_at_index"');
  }
}
