import { Migration } from '@mikro-orm/migrations';

export class DurableTimers extends Migration {
  override name = '0003-durable-timers';

  override up(): void {
    this.addSql(`alter table "executions" add column "attempts_before_retry" int not null default 0`);
    this.addSql(`create index "executions_resume_at_index" on "executions" ("resume_at")`);
    this.addSql(`alter table "step_runs" add column "waiting_until" timestamptz null`);
    this.addSql(`alter table "step_runs" add column "lease_owner" varchar(255) null`);
    this.addSql(`alter table "step_runs" drop constraint "step_runs_status_check"`);
    this.addSql(
      `alter table "step_runs" add constraint "step_runs_status_check" check ("status" in ('RUNNING', 'WAITING', 'COMPLETED', 'FAILED'))`,
    );
  }

  override down(): void {
    this.addSql(`alter table "step_runs" drop constraint "step_runs_status_check"`);
    this.addSql(`alter table "step_runs" add constraint "step_runs_status_check" check ("status" in ('RUNNING', 'COMPLETED', 'FAILED'))`);
    this.addSql(`alter table "step_runs" drop column "lease_owner"`);
    this.addSql(`alter table "step_runs" drop column "waiting_until"`);
    this.addSql(`drop index "executions_resume_at_index"`);
    this.addSql(`alter table "executions" drop column "attempts_before_retry"`);
  }
}
