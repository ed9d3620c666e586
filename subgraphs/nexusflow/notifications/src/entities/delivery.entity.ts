import { entityBase, tenantFilter, tenantId } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const DeliveryStatus = { Pending: 'PENDING', Sent: 'SENT', Failed: 'FAILED' } as const;
export type DeliveryStatus = (typeof DeliveryStatus)[keyof typeof DeliveryStatus];

/**
 * One notification sent through one external channel, with every attempt counted; or a transactional email another
 * service asked for (`deliverTransactionalEmail`), which belongs to no notification and no tenant, so that no tenant's
 * query ever sees it.
 */
export const DeliverySchema = defineEntity({
  name: 'Delivery',
  tableName: 'deliveries',
  filters: tenantFilter(),
  indexes: [{ properties: ['status', 'nextAttemptAt'] }],
  properties: {
    ...entityBase,
    notificationId: p.uuid().nullable().index(),
    ...tenantId,
    tenantId: p.uuid().nullable(),
    channel: p.string(),
    recipient: p.string(),
    subject: p.string().nullable(),
    body: p.text(),
    status: p.enum(() => DeliveryStatus),
    attempts: p.integer(),
    /**
     * While pending: when the next attempt is due, or, while an attempt is being made, when its claim runs out. Null
     * once sent or given up.
     */
    nextAttemptAt: p.datetime().nullable(),
    lastError: p.text().nullable(),
    providerMessageId: p.string().nullable(),
    sentAt: p.datetime().nullable(),
    /** A transactional email's key from the service that asked for it: a repeated request sends nothing new. */
    idempotencyKey: p.string().nullable().unique(),
  },
});

export class Delivery extends DeliverySchema.class {}
DeliverySchema.setClass(Delivery);
