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
    /** Given by senders that may repeat a request (a retried workflow step); unique per tenant. */
    idempotencyKey: p.string().nullable(),
  },
});

export class Notification extends NotificationSchema.class {}
NotificationSchema.setClass(Notification);
