import { Migration } from '@mikro-orm/migrations';

/** Every tenant has a plan; those that registered before plans existed are on FREE. */
export class TenantPlans extends Migration {
  override name = '0010-tenant-plans';

  override up(): void {
    this.addSql(`alter table "tenants" add column "plan" text check ("plan" in ('FREE', 'TEAM', 'ENTERPRISE')) not null default 'FREE'`);
  }

  override down(): void {
    this.addSql('alter table "tenants" drop column "plan"');
  }
}
