import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * One accepted delivery of a provider to an integration's webhook (a HubSpot batch and a Graph notification list are
 * one row per event in them), recorded before the provider is answered. Its provider's delivery id is unique per
 * integration, which is what refuses a replay; `processedAt` is set in the transaction that records its
 * `integration.data.received` event, so a delivery is published once however often the queue hands it out.
 */
export const WebhookDeliverySchema = defineEntity({
  name: 'WebhookDelivery',
  tableName: 'integration_webhook_deliveries',
  filters: tenantFilter(),
  uniques: [{ properties: ['integrationId', 'deliveryId'], name: 'integration_webhook_deliveries_delivery_unique' }],
  // Delivery ids are kept for INTEGRATIONS_WEBHOOK_DELIVERY_RETENTION_DAYS after they arrived, then pruned by age.
  indexes: [{ properties: ['createdAt'], name: 'integration_webhook_deliveries_created_at_index' }],
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    integrationId: p.uuid(),
    /** The provider's id of the delivery: Slack `event_id`, HubSpot `eventId`, Graph notification id, `X-Delivery-Id`. */
    deliveryId: p.string(),
    /** The `payload` of its `integration.data.received` event. */
    event: p.json<Record<string, unknown>>(),
    /** When its event was recorded; null while it waits on the queue. */
    processedAt: p.datetime().nullable().index(),
  },
});

export class WebhookDelivery extends WebhookDeliverySchema.class {}
WebhookDeliverySchema.setClass(WebhookDelivery);
