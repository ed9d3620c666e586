import { Migration } from '@mikro-orm/migrations';

export class InitialInvoiceGenSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "invoices" (
      "id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "tenant_id" uuid not null,
      "created_by" uuid not null, "status" varchar(255) not null, "number" varchar(255) null, "currency" varchar(3) not null,
      "currency_exponent" int not null, "tax_rate_ppm" int null, "subtotal_minor" int not null, "tax_minor" int not null,
      "total_minor" int not null, "seller" jsonb not null, "customer" jsonb not null, "lines" jsonb not null, "memo" text null,
      "due_at" timestamptz null, "issued_at" timestamptz null, "issued_by" uuid null, "paid_at" timestamptz null,
      "payment_id" varchar(255) null, "voided_at" timestamptz null, "voided_by" uuid null, "void_reason" text null,
      primary key ("id"))`);
    this.addSql(`create index "invoices_tenant_id_created_at_index" on "invoices" ("tenant_id", "created_at")`);
    this.addSql(`alter table "invoices" add constraint "invoices_tenant_id_number_unique" unique ("tenant_id", "number")`);
    this.addSql(`create table "invoice_number_counters" (
      "tenant_id" uuid not null, "year" int not null, "last_number" int not null, primary key ("tenant_id", "year"))`);
    this.addSql(`create table "ledger_postings" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "invoice_id" uuid not null,
      "idempotency_key" varchar(255) not null, "entry" jsonb not null, "requested_by" uuid not null, "status" varchar(255) not null, "attempts" int not null,
      "next_attempt_at" timestamptz not null, "last_error" varchar(255) null, "posted_at" timestamptz null,
      "journal_entry_id" varchar(255) null, primary key ("id"))`);
    this.addSql(`create index "ledger_postings_invoice_id_index" on "ledger_postings" ("invoice_id")`);
    this.addSql(`alter table "ledger_postings" add constraint "ledger_postings_idempotency_key_unique" unique ("idempotency_key")`);
    this.addSql(`create index "ledger_postings_next_attempt_at_index" on "ledger_postings" ("next_attempt_at")`);
  }

  override down(): void {
    this.addSql('drop table "ledger_postings"');
    this.addSql('drop table "invoice_number_counters"');
    this.addSql('drop table "invoices"');
  }
}
