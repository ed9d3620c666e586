import { Migration } from '@mikro-orm/migrations';

/** A claimed tick is leased rather than moved past, so that a tick whose instance died is claimed again. */
export class ScheduleClaimLease extends Migration {
  override name = '0002-claim-lease';

  override up(): void {
    this.addSql(`alter table "schedules" add column "claimed_until" timestamptz null`);
  }

  override down(): void {
    this.addSql(`alter table "schedules" drop column "claimed_until"`);
  }
}
