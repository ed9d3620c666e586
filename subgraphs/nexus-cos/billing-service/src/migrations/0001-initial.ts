import { Migration } from '@mikro-orm/migrations';

export class InitialBillingServiceSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "payments" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null,
      "tenant_id" uuid not null, "created_by" uuid not null, "invoice_id" uuid not null, "active_invoice_id" uuid null,
      "status" varchar(16) not null, "amount_minor" int not null, "currency" varchar(3) not null,
      "payment_method" varchar(255) not null, "stripe_payment_intent_id" varchar(255) null,
      "stripe_balance_transaction_id" varchar(255) null, "fee_minor" int null, "refunded_minor" int not null default 0,
      "failure_message" varchar(500) null, "decline_code" varchar(100) null, "succeeded_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`alter table "payments" add constraint "payments_stripe_payment_intent_id_unique" unique ("stripe_payment_intent_id")`);
    this.addSql(`create index "payments_tenant_id_invoice_id_index" on "payments" ("tenant_id", "invoice_id")`);
    this.addSql(`create index "payments_tenant_id_succeeded_at_index" on "payments" ("tenant_id", "succeeded_at")`);
    this.addSql(
      `alter table "payments" add constraint "payments_tenant_id_active_invoice_id_unique" unique ("tenant_id", "active_invoice_id")`,
    );

    this.addSql(`create table "refunds" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null,
      "tenant_id" uuid not null, "created_by" uuid not null, "payment_id" uuid not null, "status" varchar(16) not null,
      "amount_minor" int not null, "currency" varchar(3) not null, "reason" varchar(500) null,
      "stripe_refund_id" varchar(255) null, "failure_message" varchar(500) null, "succeeded_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`alter table "refunds" add constraint "refunds_stripe_refund_id_unique" unique ("stripe_refund_id")`);
    this.addSql(`create index "refunds_payment_id_index" on "refunds" ("payment_id")`);
    this.addSql(`create index "refunds_tenant_id_succeeded_at_index" on "refunds" ("tenant_id", "succeeded_at")`);

    this.addSql(`create table "stripe_events" ("id" varchar(255) not null, "type" varchar(255) not null, "payload" jsonb not null,
      "received_at" timestamptz not null, "leased_until" timestamptz null, "attempts" int not null default 0,
      "last_error" varchar(1000) null, "processed_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "stripe_events_processed_at_index" on "stripe_events" ("processed_at")`);
  }

  override down(): void {
    this.addSql('drop table "stripe_events"');
    this.addSql('drop table "refunds"');
    this.addSql('drop table "payments"');
  }
}
