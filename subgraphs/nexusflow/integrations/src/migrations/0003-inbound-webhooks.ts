import { Migration } from '@mikro-orm/migrations';

export class InboundWebhooks extends Migration {
  override name = '0003-inbound-webhooks';

  override up(): void {
    this.addSql(`create table "integration_webhook_secrets" (
      "integration_id" uuid not null, "tenant_id" uuid not null, "sealed_secret" text not null, "key_id" varchar(255) not null,
      "created_at" timestamptz not null, primary key ("integration_id"))`);
    this.addSql(`create table "integration_webhook_deliveries" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "integration_id" uuid not null,
      "delivery_id" varchar(255) not null, "event" jsonb not null, "processed_at" timestamptz null, primary key ("id"))`);
    this.addSql(`alter table "integration_webhook_deliveries"
      add constraint "integration_webhook_deliveries_delivery_unique" unique ("integration_id", "delivery_id")`);
    this.addSql(`create index "integration_webhook_deliveries_processed_at_index" on "integration_webhook_deliveries" ("processed_at")`);
  }

  override down(): void {
    this.addSql('drop table "integration_webhook_deliveries"');
    this.addSql('drop table "integration_webhook_secrets"');
  }
}
