import { defineEntity, p } from '@mikro-orm/postgresql';

/** An in-app notification of one user; email, SMS and push deliveries hang off it. */
export const NotificationSchema = defineEntity({
  name: 'Notification',
  tableName: 'notifications',
  indexes: [{ properties: ['userId', 'createdAt'] }],
  uniques: [{ properties: ['tenantId', 'idempotencyKey'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    tenantId: p.uuid(),
    userId: p.uuid(),
    eventType: p.string(),
    title: p.string(),
    body: p.text(),
    data: p.json<Record<string, unknown>>().nullable(),
    readAt: p.datetime().nullable(),
    /** Given by senders that may repeat a request (a retried workflow step); unique per tenant. */
    idempotencyKey: p.string().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export class Notification extends NotificationSchema.class {}
NotificationSchema.setClass(Notification);
