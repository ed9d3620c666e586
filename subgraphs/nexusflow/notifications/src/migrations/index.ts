import type { MigrationObject } from '@mikro-orm/core';
import { InitialNotificationsSchema } from './0001-initial.ts';
import { NotificationIdempotencyKey } from './0002-notification-idempotency-key.ts';
import { TransactionalEmails } from './0003-transactional-emails.ts';
import { ContactsPerTenant } from './0004-contacts-per-tenant.ts';
import { DeliveryAttemptsDue } from './0005-delivery-attempts-due.ts';
import { InAppNotifications } from './0006-in-app-notifications.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialNotificationsSchema },
  { name: '0002-notification-idempotency-key', class: NotificationIdempotencyKey },
  { name: '0003-transactional-emails', class: TransactionalEmails },
  { name: '0004-contacts-per-tenant', class: ContactsPerTenant },
  { name: '0005-delivery-attempts-due', class: DeliveryAttemptsDue },
  { name: '0006-in-app-notifications', class: InAppNotifications },
];
