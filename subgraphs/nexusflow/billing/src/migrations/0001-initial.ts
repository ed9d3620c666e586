import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TABLE_SQL } from '@nexusflow/kit';

export class InitialBillingSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "plans" ("tier" varchar(255) not null, "name" varchar(255) not null, "position" int not null,
      "monthly_price_cents" int not null, "currency" varchar(255) not null, "stripe_price_id" varchar(255) null,
      "executions_per_month" int null, "ai_tokens_per_month" bigint null, "seats" int null, "integrations" int null,
      primary key ("tier"))`);

    this.addSql(`create table "billing_customers" ("id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null,
      "stripe_customer_id" varchar(255) not null, "default_payment_method_id" varchar(255) null, primary key ("id"))`);
    this.addSql(`alter table "billing_customers" add constraint "billing_customers_tenant_id_unique" unique ("tenant_id")`);
    this.addSql(
      `alter table "billing_customers" add constraint "billing_customers_stripe_customer_id_unique" unique ("stripe_customer_id")`,
    );

    this.addSql(`create table "billing_subscriptions" ("id" uuid not null, "created_at" timestamptz not null,
      "updated_at" timestamptz not null, "tenant_id" uuid not null, "plan_tier" varchar(255) not null, "status" text not null,
      "stripe_subscription_id" varchar(255) null, "stripe_item_id" varchar(255) null, "current_period_start" timestamptz null,
      "current_period_end" timestamptz null, "cancel_at_period_end" boolean not null default false, "canceled_at" timestamptz null,
      "past_due_since" timestamptz null, "billing_contact_id" uuid not null, primary key ("id"))`);
    this.addSql(`alter table "billing_subscriptions" add constraint "billing_subscriptions_tenant_id_unique" unique ("tenant_id")`);
    this.addSql(
      `alter table "billing_subscriptions" add constraint "billing_subscriptions_stripe_subscription_id_unique" unique ("stripe_subscription_id")`,
    );
    this.addSql(`alter table "billing_subscriptions" add constraint "billing_subscriptions_status_check"
      check ("status" in ('TRIALING', 'ACTIVE', 'PAST_DUE', 'CANCELED', 'INCOMPLETE'))`);

    this.addSql(`create table "stripe_events" ("id" varchar(255) not null, "type" varchar(255) not null, "payload" jsonb not null,
      "received_at" timestamptz not null, "processed_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "stripe_events_processed_at_index" on "stripe_events" ("processed_at")`);

    this.addSql(`create table "usage_counters" ("id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null,
      "period_start" timestamptz not null, "executions" int not null default 0, "ai_tokens" bigint not null default '0',
      primary key ("id"))`);
    this.addSql(
      `alter table "usage_counters" add constraint "usage_counters_tenant_id_period_start_unique" unique ("tenant_id", "period_start")`,
    );

    this.addSql(`create table "counted_events" ("event_id" uuid not null, "counted_at" timestamptz not null, primary key ("event_id"))`);

    for (const statement of OUTBOX_TABLE_SQL) this.addSql(statement);
  }

  override down(): void {
    for (const table of [
      'outbox_events',
      'counted_events',
      'usage_counters',
      'stripe_events',
      'billing_subscriptions',
      'billing_customers',
      'plans',
    ])
      this.addSql(`drop table "${table}"`);
  }
}
