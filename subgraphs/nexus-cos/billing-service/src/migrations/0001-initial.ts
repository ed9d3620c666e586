import { Migration } from '@mikro-orm/migrations';

export class InitialBillingServiceSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "payments" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "created_by" uuid not null,
      "name" varchar(255) not null, primary key ("id"))`);
    this.addSql(`create index "payments_tenant_id_index" on "payments" ("tenant_id")`);
  }

  override down(): void {
    this.addSql('drop table "payments"');
  }
}
