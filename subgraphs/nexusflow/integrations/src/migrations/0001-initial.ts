import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TABLE_SQL } from '@nexusflow/kit';

export class InitialIntegrationsSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "integrations" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "connected_by" uuid not null,
      "provider" varchar(255) not null, "status" varchar(255) not null, "status_message" text null, "account_id" varchar(255) null,
      "account_label" varchar(255) null, "scopes" jsonb not null, "credentials" text null, "credentials_key_id" varchar(255) null,
      "access_token_expires_at" timestamptz null, "api_base_url" text null, "hook_target_url" text null,
      "last_sync_at" timestamptz null, "disconnected_at" timestamptz null, primary key ("id"))`);
    this.addSql(`create index "integrations_tenant_id_index" on "integrations" ("tenant_id")`);
    this.addSql(`create index "integrations_credentials_key_id_index" on "integrations" ("credentials_key_id")`);
    this.addSql(`create table "integration_authorizations" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "user_id" uuid not null,
      "provider" varchar(255) not null, "state_hash" varchar(255) not null, "code_verifier" text null,
      "expires_at" timestamptz not null, "used_at" timestamptz null, primary key ("id"))`);
    this.addSql(
      `alter table "integration_authorizations" add constraint "integration_authorizations_state_hash_unique" unique ("state_hash")`,
    );
    this.addSql(`create index "integration_authorizations_expires_at_index" on "integration_authorizations" ("expires_at")`);
    for (const statement of OUTBOX_TABLE_SQL) this.addSql(statement);
  }

  override down(): void {
    this.addSql('drop table "outbox_events"');
    this.addSql('drop table "integration_authorizations"');
    this.addSql('drop table "integrations"');
  }
}
