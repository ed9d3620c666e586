import { Migration } from '@mikro-orm/migrations';

export class PasswordLifecycle extends Migration {
  override name = '0006-password-lifecycle';

  override up(): void {
    this.addSql(`alter table "users" add column "email_verified_at" timestamptz null`);

    this.addSql(`create table "account_tokens" (
      "id" uuid not null, "created_at" timestamptz not null, "purpose" text not null, "token_hash" varchar(255) not null,
      "user_id" uuid not null, "expires_at" timestamptz not null, "used_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`alter table "account_tokens" add constraint "account_tokens_token_hash_unique" unique ("token_hash")`);
    this.addSql(`create index "account_tokens_user_id_index" on "account_tokens" ("user_id")`);
    this.addSql(
      `alter table "account_tokens" add constraint "account_tokens_purpose_check" check ("purpose" in ('verify-email', 'reset-password'))`,
    );
    this.addSql(
      `alter table "account_tokens" add constraint "account_tokens_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade`,
    );

    this.addSql(`create table "pending_emails" (
      "id" uuid not null, "created_at" timestamptz not null, "template" varchar(255) not null, "composed" boolean not null,
      "sealed" text not null, "attempts" int not null, "next_attempt_at" timestamptz not null, "expires_at" timestamptz not null,
      "last_error" varchar(255) null,
      primary key ("id"))`);
    this.addSql(`create index "pending_emails_next_attempt_at_index" on "pending_emails" ("next_attempt_at")`);
  }

  override down(): void {
    this.addSql('drop table "pending_emails"');
    this.addSql('drop table "account_tokens"');
    this.addSql(`alter table "users" drop column "email_verified_at"`);
  }
}
