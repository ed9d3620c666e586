import { Migration } from '@mikro-orm/migrations';

export class ThrottleCounters extends Migration {
  override name = '0002-throttle-counters';

  override up(): void {
    this.addSql(`create table "throttle_counters" (
      "scope" varchar(255) not null, "subject_hash" varchar(255) not null, "attempts" timestamptz[] not null, "last_attempt_at" timestamptz not null,
      primary key ("scope", "subject_hash"))`);
    this.addSql(`create index "throttle_counters_scope_last_attempt_at_index" on "throttle_counters" ("scope", "last_attempt_at")`);
  }

  override down(): void {
    this.addSql('drop table "throttle_counters"');
  }
}
