import { Migration } from '@mikro-orm/migrations';

/** Stripe takes its fee in the account's settlement currency, which need not be the payment's. */
export class FeeCurrency extends Migration {
  override name = '0003-fee-currency';

  override up(): void {
    this.addSql('alter table "payments" add column "fee_currency" varchar(3) null');
  }

  override down(): void {
    this.addSql('alter table "payments" drop column "fee_currency"');
  }
}
