import { Migration } from '@mikro-orm/migrations';

export class TransactionalEmails extends Migration {
  override name = '0003-transactional-emails';

  override up(): void {
    // A transactional email goes to an address, for no notification and no tenant.
    this.addSql(`alter table "deliveries" alter column "notification_id" drop not null`);
    this.addSql(`alter table "deliveries" alter column "tenant_id" drop not null`);
    this.addSql(`alter table "deliveries" add column "idempotency_key" varchar(255) null`);
    // Notifications' own deliveries carry no key, and NULLs never collide in a unique constraint.
    this.addSql(`alter table "deliveries" add constraint "deliveries_idempotency_key_unique" unique ("idempotency_key")`);
  }

  override down(): void {
    this.addSql(`delete from "deliveries" where "notification_id" is null or "tenant_id" is null`);
    this.addSql(`alter table "deliveries" drop constraint "deliveries_idempotency_key_unique"`);
    this.addSql(`alter table "deliveries" drop column "idempotency_key"`);
    this.addSql(`alter table "deliveries" alter column "tenant_id" set not null`);
    this.addSql(`alter table "deliveries" alter column "notification_id" set not null`);
  }
}
