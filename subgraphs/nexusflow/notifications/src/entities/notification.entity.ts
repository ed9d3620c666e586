import { entityBase, tenantFilter, tenantId } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** An in-app notification of one user; email, SMS and push deliveries hang off it. */
export const NotificationSchema = defineEntity({
  name: 'Notification',
  tableName: 'notifications',
  filters: tenantFilter(),
  indexes: [{ properties: ['userId', 'createdAt'] }],
  uniques: [{ properties: ['tenantId', 'idempotencyKey'] }],
  properties: {
    ...entityBase,
    ...tenantId,
    userId: p.uuid(),
    eventType: p.string(),
    title: p.string(),
    body: p.text(),
    data: p.json<Record<string, unknown>>().nullable(),
    readAt: p.datetime().nullable(),
    /**
     * Shown in the app: the recipient's preference for its event type includes IN_APP. One without it exists for its
     * deliveries (email, SMS, push) only, and no list, count or live update of the inbox shows it.
     */
    inApp: p.boolean().default(true),
    /** Given by senders that may repeat a request (a retried workflow step); unique per tenant. */
    idempotencyKey: p.string().nullable(),
  },
});

export class Notification extends NotificationSchema.class {}
NotificationSchema.setClass(Notification);
