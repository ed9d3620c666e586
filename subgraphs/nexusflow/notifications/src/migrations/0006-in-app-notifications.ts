import { Migration } from '@mikro-orm/migrations';

/** Whether a notification shows in the app: its recipient may have chosen other channels only for its event type. */
export class InAppNotifications extends Migration {
  override name = '0006-in-app-notifications';

  override up(): void {
    this.addSql('alter table "notifications" add column "in_app" boolean not null default true');
  }

  override down(): void {
    this.addSql('alter table "notifications" drop column "in_app"');
  }
}
