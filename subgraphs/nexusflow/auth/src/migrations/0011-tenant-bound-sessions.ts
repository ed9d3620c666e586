import { Migration } from '@mikro-orm/migrations';

/** A session started through a tenant's SAML identity provider stays in that tenant. */
export class TenantBoundSessions extends Migration {
  override name = '0011-tenant-bound-sessions';

  override up(): void {
    this.addSql('alter table "sessions" add column "tenant_bound" boolean not null default false');
  }

  override down(): void {
    this.addSql('alter table "sessions" drop column "tenant_bound"');
  }
}
