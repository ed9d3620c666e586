import { entityBase, tenantFilter, tenantId } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const DeliveryStatus = { Pending: 'PENDING', Sent: 'SENT', Failed: 'FAILED' } as const;
export type DeliveryStatus = (typeof DeliveryStatus)[keyof typeof DeliveryStatus];

/** One notification sent through one external channel, with every attempt counted. */
export const DeliverySchema = defineEntity({
  name: 'Delivery',
  tableName: 'deliveries',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    notificationId: p.uuid().index(),
    ...tenantId,
    channel: p.string(),
    recipient: p.string(),
    subject: p.string().nullable(),
    body: p.text(),
    status: p.enum(() => DeliveryStatus),
    attempts: p.integer(),
    lastError: p.text().nullable(),
    providerMessageId: p.string().nullable(),
    sentAt: p.datetime().nullable(),
  },
});

export class Delivery extends DeliverySchema.class {}
DeliverySchema.setClass(Delivery);
