import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TABLE_SQL } from '@nexusflow/kit';

export class InitialWorkflowsSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "workflows" (
      "id" uuid not null, "tenant_id" uuid not null, "owner_id" uuid not null, "name" varchar(255) not null, "description" text null,
      "status" text not null, "version" int not null, "steps" jsonb not null, "triggers" jsonb not null,
      "created_at" timestamptz not null, "updated_at" timestamptz not null, "deleted_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "workflows_tenant_id_index" on "workflows" ("tenant_id")`);
    this.addSql(`create index "workflows_owner_id_index" on "workflows" ("owner_id")`);
    this.addSql(`alter table "workflows" add constraint "workflows_status_check" check ("status" in ('ACTIVE', 'PAUSED'))`);

    this.addSql(`create table "workflow_versions" (
      "id" uuid not null, "workflow_id" uuid not null, "version" int not null, "name" varchar(255) not null, "steps" jsonb not null,
      "triggers" jsonb not null, "created_by" uuid not null, "created_at" timestamptz not null, primary key ("id"))`);
    this.addSql(
      `alter table "workflow_versions" add constraint "workflow_versions_workflow_id_version_unique" unique ("workflow_id", "version")`,
    );

    this.addSql(`create table "executions" (
      "id" uuid not null, "tenant_id" uuid not null, "workflow_id" uuid not null, "workflow_version" int not null, "status" text not null,
      "input" jsonb null, "output" jsonb null, "error_message" text null, "error_step" varchar(255) null, "current_step" varchar(255) null,
      "current_attempt" int not null, "resume_at" timestamptz null, "revision" int not null, "triggered_by" uuid null,
      "idempotency_key" varchar(255) null, "created_at" timestamptz not null, "updated_at" timestamptz not null,
      "started_at" timestamptz null, "finished_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "executions_tenant_id_index" on "executions" ("tenant_id")`);
    this.addSql(`create index "executions_workflow_id_created_at_index" on "executions" ("workflow_id", "created_at")`);
    this.addSql(
      `alter table "executions" add constraint "executions_workflow_id_idempotency_key_unique" unique ("workflow_id", "idempotency_key")`,
    );
    this.addSql(
      `alter table "executions" add constraint "executions_status_check" check ("status" in ('QUEUED', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED'))`,
    );

    this.addSql(`create table "step_runs" (
      "id" uuid not null, "execution_id" uuid not null, "step_key" varchar(255) not null, "step_type" varchar(255) not null,
      "attempt" int not null, "idempotency_key" varchar(255) not null, "status" text not null, "output" jsonb null,
      "error_message" text null, "lease_until" timestamptz not null, "started_at" timestamptz not null, "finished_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`alter table "step_runs" add constraint "step_runs_idempotency_key_unique" unique ("idempotency_key")`);
    this.addSql(`create index "step_runs_execution_id_started_at_index" on "step_runs" ("execution_id", "started_at")`);
    this.addSql(`alter table "step_runs" add constraint "step_runs_status_check" check ("status" in ('RUNNING', 'COMPLETED', 'FAILED'))`);

    for (const statement of OUTBOX_TABLE_SQL) this.addSql(statement);
  }

  override down(): void {
    for (const table of ['outbox_events', 'step_runs', 'executions', 'workflow_versions', 'workflows'])
      this.addSql(`drop table "${table}"`);
  }
}
