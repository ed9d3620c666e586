import { Migration } from '@mikro-orm/migrations';

export class AbandonedAttempts extends Migration {
  override name = '0004-abandoned-attempts';

  override up(): void {
    this.addSql(`alter table "step_runs" drop constraint "step_runs_status_check"`);
    this.addSql(
      `alter table "step_runs" add constraint "step_runs_status_check" check ("status" in ('RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'ABANDONED'))`,
    );
  }

  override down(): void {
    this.addSql(`update "step_runs" set "status" = 'FAILED' where "status" = 'ABANDONED'`);
    this.addSql(`alter table "step_runs" drop constraint "step_runs_status_check"`);
    this.addSql(
      `alter table "step_runs" add constraint "step_runs_status_check" check ("status" in ('RUNNING', 'WAITING', 'COMPLETED', 'FAILED'))`,
    );
  }
}
