import { Migration } from '@mikro-orm/migrations';

export class InitialStreamcoreSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`create table "media_assets" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "content_id" uuid not null,
      primary key ("id"))`);
    this.addSql(`create index "media_assets_tenant_id_index" on "media_assets" ("tenant_id")`);
    this.addSql(`alter table "media_assets" add constraint "media_assets_content_id_unique" unique ("content_id")`);
    this.addSql(`create table "renditions" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "content_id" uuid not null,
      "label" varchar(32) not null, "width" int not null, "height" int not null, "bandwidth" int not null,
      "codecs" varchar(200) not null, "segment_duration_ms" int not null, "segment_count" int not null,
      "storage_key" varchar(255) not null, "registered_at" timestamptz not null, primary key ("id"))`);
    this.addSql(`create index "renditions_tenant_id_index" on "renditions" ("tenant_id")`);
    this.addSql(`alter table "renditions" add constraint "renditions_content_id_label_unique" unique ("content_id", "label")`);
    this.addSql(`create table "playback_sessions" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "user_id" uuid not null,
      "content_id" uuid not null, "region" varchar(2) not null, "last_heartbeat_at" timestamptz not null,
      "expires_at" timestamptz not null, "ended_at" timestamptz null, "end_reason" varchar(255) null, primary key ("id"))`);
    this.addSql(`create index "playback_sessions_expires_at_index" on "playback_sessions" ("expires_at")`);
    this.addSql(
      `create index "playback_sessions_tenant_id_user_id_ended_at_index" on "playback_sessions" ("tenant_id", "user_id", "ended_at")`,
    );
    this.addSql(`create index "playback_sessions_content_id_ended_at_index" on "playback_sessions" ("content_id", "ended_at")`);
  }

  override down(): void {
    this.addSql('drop table "playback_sessions"');
    this.addSql('drop table "renditions"');
    this.addSql('drop table "media_assets"');
  }
}
