import { Migration } from '@mikro-orm/migrations';

export class InitialLedgerMgrSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "ledger_accounts" ("id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null,
      "code" varchar(32) not null, "currency" varchar(3) not null, primary key ("id"))`);
    this.addSql(`alter table "ledger_accounts" add constraint "ledger_accounts_tenant_id_code_currency_unique"
      unique ("tenant_id", "code", "currency")`);

    this.addSql(`create table "journal_entries" ("id" uuid not null, "tenant_id" uuid not null,
      "idempotency_key" varchar(200) not null, "source" varchar(16) not null, "source_id" varchar(200) not null,
      "description" varchar(500) not null, "occurred_at" timestamptz not null, "posted_at" timestamptz not null,
      "currency" varchar(3) not null, "amount_minor" int not null, "content_hash" varchar(64) not null, primary key ("id"))`);
    this.addSql(`create index "journal_entries_tenant_id_occurred_at_index" on "journal_entries" ("tenant_id", "occurred_at")`);
    this.addSql(
      `create index "journal_entries_tenant_id_source_source_id_index" on "journal_entries" ("tenant_id", "source", "source_id")`,
    );
    this.addSql(`alter table "journal_entries" add constraint "journal_entries_tenant_id_idempotency_key_unique"
      unique ("tenant_id", "idempotency_key")`);

    this.addSql(`create table "journal_lines" ("id" uuid not null, "tenant_id" uuid not null, "entry_id" uuid not null,
      "position" int not null, "account_id" uuid not null, "account_code" varchar(32) not null,
      "occurred_at" timestamptz not null, "debit_minor" int not null, "credit_minor" int not null, primary key ("id"))`);
    this.addSql(`create index "journal_lines_account_id_occurred_at_index" on "journal_lines" ("account_id", "occurred_at")`);
    this.addSql(`create index "journal_lines_entry_id_index" on "journal_lines" ("entry_id")`);

    // The ledger is append-only whatever the code does (the entities declare these triggers): a correction is a new entry.
    const refuse = (what: string) =>
      `returns trigger as $$ begin raise exception '${what} are immutable: post a correcting entry instead' using errcode = 'P0001'; end; $$ language plpgsql`;
    for (const [table, what] of [
      ['journal_entries', 'journal entries'],
      ['journal_lines', 'journal lines'],
    ] as const) {
      this.addSql(`create or replace function "${table}_${table}_immutable_fn"() ${refuse(what)}`);
      this.addSql(`create trigger "${table}_immutable" BEFORE UPDATE OR DELETE on "${table}"
        for each ROW execute function "${table}_${table}_immutable_fn"()`);
    }
  }

  override down(): void {
    this.addSql('drop table "journal_lines"');
    this.addSql('drop table "journal_entries"');
    this.addSql('drop table "ledger_accounts"');
    for (const table of ['journal_entries', 'journal_lines']) this.addSql(`drop function "${table}_${table}_immutable_fn"`);
  }
}
