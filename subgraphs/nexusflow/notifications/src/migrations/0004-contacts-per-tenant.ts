import { Migration } from '@mikro-orm/migrations';

/**
 * A person may belong to several tenants: their contact points and preferences are kept per tenant, where one row per
 * user made a second tenant's fail on the key, and events of one tenant use the other's.
 */
export class ContactsPerTenant extends Migration {
  override name = '0004-contacts-per-tenant';

  override up(): void {
    this.addSql('alter table "contacts" drop constraint "contacts_pkey"');
    this.addSql('alter table "contacts" add constraint "contacts_pkey" primary key ("tenant_id", "user_id")');
    this.addSql('alter table "notification_preferences" drop constraint "notification_preferences_user_id_event_type_unique"');
    this.addSql(
      'alter table "notification_preferences" add constraint "notification_preferences_tenant_id_user_id_event_type_unique" unique ("tenant_id", "user_id", "event_type")',
    );
  }

  override down(): void {
    this.addSql('alter table "notification_preferences" drop constraint "notification_preferences_tenant_id_user_id_event_type_unique"');
    this.addSql(
      'alter table "notification_preferences" add constraint "notification_preferences_user_id_event_type_unique" unique ("user_id", "event_type")',
    );
    this.addSql('alter table "contacts" drop constraint "contacts_pkey"');
    this.addSql('alter table "contacts" add constraint "contacts_pkey" primary key ("user_id")');
  }
}
