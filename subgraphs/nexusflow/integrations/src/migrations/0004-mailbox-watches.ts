import { Migration } from '@mikro-orm/migrations';

export class MailboxWatches extends Migration {
  override name = '0004-mailbox-watches';

  override up(): void {
    this.addSql(`create table "integration_mailbox_watches" (
      "integration_id" uuid not null, "tenant_id" uuid not null, "provider" varchar(255) not null,
      "subscription_id" varchar(255) null, "history_id" varchar(255) null, "expires_at" timestamptz null,
      "renewed_at" timestamptz null, "last_error" text null, primary key ("integration_id"))`);
    this.addSql(`create index "integration_mailbox_watches_expires_at_index" on "integration_mailbox_watches" ("expires_at")`);
    this.addSql(`create table "integration_mail_push_receipts" (
      "message_id" varchar(255) not null, "received_at" timestamptz not null, primary key ("message_id"))`);
    this.addSql(`create index "integration_mail_push_receipts_received_at_index" on "integration_mail_push_receipts" ("received_at")`);
    // App-level webhooks (Slack's Events API, HubSpot's app webhooks, Gmail's pushes) find integrations by account.
    this.addSql(`create index "integrations_provider_account_id_index" on "integrations" ("provider", "account_id")`);
  }

  override down(): void {
    this.addSql('drop index "integrations_provider_account_id_index"');
    this.addSql('drop table "integration_mail_push_receipts"');
    this.addSql('drop table "integration_mailbox_watches"');
  }
}
