import { Migration } from '@mikro-orm/migrations';

export class InitialLedgerMgrSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "ledger_accounts" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "created_by" uuid not null,
      "name" varchar(255) not null, primary key ("id"))`);
    this.addSql(`create index "ledger_accounts_tenant_id_index" on "ledger_accounts" ("tenant_id")`);
  }

  override down(): void {
    this.addSql('drop table "ledger_accounts"');
  }
}
