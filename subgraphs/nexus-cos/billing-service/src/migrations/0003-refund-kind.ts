import { Migration } from '@mikro-orm/migrations';

/** Refunds billing-service makes of its own accord, of money no longer owed, are posted otherwise than requested ones. */
export class RefundKind extends Migration {
  override name = '0003-refund-kind';

  override up(): void {
    this.addSql(`alter table "refunds" add column "kind" varchar(16) not null default 'REQUESTED'`);
  }

  override down(): void {
    this.addSql('alter table "refunds" drop column "kind"');
  }
}
