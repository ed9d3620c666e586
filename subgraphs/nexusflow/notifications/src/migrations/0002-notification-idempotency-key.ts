import { Migration } from '@mikro-orm/migrations';

export class NotificationIdempotencyKey extends Migration {
  override name = '0002-notification-idempotency-key';

  override up(): void {
    this.addSql(`alter table "notifications" add column "idempotency_key" varchar(255) null`);
    // Rows without a key never collide: PostgreSQL treats NULLs as distinct in a unique constraint.
    this.addSql(
      `alter table "notifications" add constraint "notifications_tenant_id_idempotency_key_unique" unique ("tenant_id", "idempotency_key")`,
    );
  }

  override down(): void {
    this.addSql(`alter table "notifications" drop constraint "notifications_tenant_id_idempotency_key_unique"`);
    this.addSql(`alter table "notifications" drop column "idempotency_key"`);
  }
}
