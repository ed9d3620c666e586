import { Migration } from '@mikro-orm/migrations';

export class Oidc extends Migration {
  override name = '0008-oidc';

  override up(): void {
    this.addSql(`create table "linked_identities" (
      "id" uuid not null, "created_at" timestamptz not null, "user_id" uuid not null, "provider" varchar(255) not null,
      "subject" varchar(255) not null, "email" varchar(255) null, "last_used_at" timestamptz not null,
      primary key ("id"))`);
    this.addSql(`create index "linked_identities_user_id_index" on "linked_identities" ("user_id")`);
    this.addSql(
      `alter table "linked_identities" add constraint "linked_identities_provider_subject_unique" unique ("provider", "subject")`,
    );
    this.addSql(
      `alter table "linked_identities" add constraint "linked_identities_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade`,
    );
    this.addSql(`create table "oidc_sign_ins" (
      "id" uuid not null, "created_at" timestamptz not null, "provider" varchar(255) not null,
      "state_hash" varchar(255) not null, "redirect_uri" text not null, "expires_at" timestamptz not null,
      "used_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`alter table "oidc_sign_ins" add constraint "oidc_sign_ins_state_hash_unique" unique ("state_hash")`);
    this.addSql(`create index "oidc_sign_ins_expires_at_index" on "oidc_sign_ins" ("expires_at")`);
  }

  override down(): void {
    this.addSql('drop table "oidc_sign_ins"');
    this.addSql('drop table "linked_identities"');
  }
}
