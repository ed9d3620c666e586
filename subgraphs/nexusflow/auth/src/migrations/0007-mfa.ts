import { Migration } from '@mikro-orm/migrations';

/** Two-factor authentication: each person's authenticator secret (encrypted), recovery codes and sign-in challenges. */
export class Mfa extends Migration {
  override name = '0007-mfa';

  override up(): void {
    this.addSql(`create table "mfa_enrollments" (
      "id" uuid not null, "created_at" timestamptz not null, "user_id" uuid not null, "encrypted_secret" text not null,
      "confirmed_at" timestamptz null, "last_used_time_step" int null,
      primary key ("id"))`);
    this.addSql(`alter table "mfa_enrollments" add constraint "mfa_enrollments_user_id_unique" unique ("user_id")`);
    this.addSql(
      `alter table "mfa_enrollments" add constraint "mfa_enrollments_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade`,
    );

    this.addSql(`create table "mfa_recovery_codes" (
      "id" uuid not null, "created_at" timestamptz not null, "user_id" uuid not null, "code_hash" varchar(255) not null,
      "used_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`create index "mfa_recovery_codes_user_id_index" on "mfa_recovery_codes" ("user_id")`);
    this.addSql(
      `alter table "mfa_recovery_codes" add constraint "mfa_recovery_codes_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade`,
    );

    this.addSql(`create table "mfa_challenges" (
      "id" uuid not null, "created_at" timestamptz not null, "token_hash" varchar(255) not null, "user_id" uuid not null,
      "tenant_id" uuid not null, "expires_at" timestamptz not null, "used_at" timestamptz null,
      primary key ("id"))`);
    this.addSql(`alter table "mfa_challenges" add constraint "mfa_challenges_token_hash_unique" unique ("token_hash")`);
    this.addSql(`create index "mfa_challenges_user_id_index" on "mfa_challenges" ("user_id")`);
    this.addSql(`create index "mfa_challenges_expires_at_index" on "mfa_challenges" ("expires_at")`);
    this.addSql(
      `alter table "mfa_challenges" add constraint "mfa_challenges_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete cascade`,
    );
  }

  override down(): void {
    this.addSql('drop table "mfa_challenges"');
    this.addSql('drop table "mfa_recovery_codes"');
    this.addSql('drop table "mfa_enrollments"');
  }
}
