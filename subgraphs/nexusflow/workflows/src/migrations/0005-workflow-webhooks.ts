import { Migration } from '@mikro-orm/migrations';

export class WorkflowWebhooks extends Migration {
  override name = '0005-workflow-webhooks';

  override up(): void {
    this.addSql(`create table "workflow_webhooks" (
      "workflow_id" uuid not null, "tenant_id" uuid not null, "sealed_secret" text not null, "secret_created_at" timestamptz not null,
      primary key ("workflow_id"))`);
  }

  override down(): void {
    this.addSql(`drop table "workflow_webhooks"`);
  }
}
