import { Migration } from '@mikro-orm/migrations';

export class PromptsSchema extends Migration {
  override name = '0003-prompts';

  override up(): void {
    this.addSql(`create table "prompt_templates" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "name" varchar(255) not null,
      "version" int not null, "task" text not null, "system" text not null, "user" text not null, "variables" jsonb not null,
      "created_by" uuid not null, primary key ("id"))`);
    this.addSql(
      `alter table "prompt_templates" add constraint "prompt_templates_tenant_id_name_version_unique" unique ("tenant_id", "name", "version")`,
    );
    this.addSql(
      `alter table "prompt_templates" add constraint "prompt_templates_task_check" check ("task" in ('CHAT', 'SUMMARIZE', 'CLASSIFY', 'EXTRACT'))`,
    );
    // What produced each completion: the template's name and version (0 for a built-in default).
    this.addSql(`alter table "usage_records" add column "prompt_name" varchar(255) null, add column "prompt_version" int null`);
  }

  override down(): void {
    this.addSql(`alter table "usage_records" drop column "prompt_name", drop column "prompt_version"`);
    this.addSql('drop table "prompt_templates"');
  }
}
