import { Migration } from '@mikro-orm/migrations';

export class InitialNotificationsSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(
      `create table "contacts" ("user_id" uuid not null, "tenant_id" uuid not null, "email" varchar(255) null, "phone" varchar(255) null, "push_token" text null, primary key ("user_id"))`,
    );
    this.addSql(
      `create table "deliveries" ("id" uuid not null, "notification_id" uuid not null, "tenant_id" uuid not null, "channel" varchar(255) not null, "recipient" varchar(255) not null, "subject" varchar(255) null, "body" text not null, "status" text not null, "attempts" int not null, "last_error" text null, "provider_message_id" varchar(255) null, "created_at" timestamptz not null, "sent_at" timestamptz null, primary key ("id"))`,
    );
    this.addSql(`create index "deliveries_notification_id_index" on "deliveries" ("notification_id")`);
    this.addSql(`alter table "deliveries" add constraint "deliveries_status_check" check ("status" in ('PENDING', 'SENT', 'FAILED'))`);
    this.addSql(
      `create table "notifications" ("id" uuid not null, "tenant_id" uuid not null, "user_id" uuid not null, "event_type" varchar(255) not null, "title" varchar(255) not null, "body" text not null, "data" jsonb null, "read_at" timestamptz null, "created_at" timestamptz not null, primary key ("id"))`,
    );
    this.addSql(`create index "notifications_user_id_created_at_index" on "notifications" ("user_id", "created_at")`);
    this.addSql(
      `create table "notification_preferences" ("id" uuid not null, "tenant_id" uuid not null, "user_id" uuid not null, "event_type" varchar(255) not null, "channels" text[] not null, "updated_at" timestamptz not null, primary key ("id"))`,
    );
    this.addSql(
      `alter table "notification_preferences" add constraint "notification_preferences_user_id_event_type_unique" unique ("user_id", "event_type")`,
    );
    this.addSql(
      `create table "processed_events" ("event_id" uuid not null, "processed_at" timestamptz not null, primary key ("event_id"))`,
    );
    this.addSql(
      `create table "notification_templates" ("id" uuid not null, "tenant_id" uuid not null, "event_type" varchar(255) not null, "channel" varchar(255) not null, "subject" varchar(255) null, "body" text not null, "updated_at" timestamptz not null, primary key ("id"))`,
    );
    this.addSql(
      `alter table "notification_templates" add constraint "notification_templates_tenant_id_event_type_channel_unique" unique ("tenant_id", "event_type", "channel")`,
    );
  }

  override down(): void {
    for (const table of [
      'processed_events',
      'notification_templates',
      'contacts',
      'notification_preferences',
      'deliveries',
      'notifications',
    ])
      this.addSql(`drop table "${table}"`);
  }
}
