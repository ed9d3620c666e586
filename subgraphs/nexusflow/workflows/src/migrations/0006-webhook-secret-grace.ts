import { Migration } from '@mikro-orm/migrations';

/** A workflow webhook's secret before its last rotation, still accepted for a grace period. */
export class WebhookSecretGrace extends Migration {
  override name = '0006-webhook-secret-grace';

  override up(): void {
    this.addSql(`alter table "workflow_webhooks"
      add column "previous_sealed_secret" text null, add column "previous_secret_expires_at" timestamptz null`);
  }

  override down(): void {
    this.addSql(`alter table "workflow_webhooks" drop column "previous_sealed_secret", drop column "previous_secret_expires_at"`);
  }
}
