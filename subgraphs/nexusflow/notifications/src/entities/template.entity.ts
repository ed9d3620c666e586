import { entityId, tenantFilter, tenantId, updatedAt } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A tenant's wording for one event type on one channel, with `{{variable}}` placeholders. */
export const TemplateSchema = defineEntity({
  name: 'Template',
  tableName: 'notification_templates',
  filters: tenantFilter(),
  uniques: [{ properties: ['tenantId', 'eventType', 'channel'] }],
  properties: {
    ...entityId,
    ...tenantId,
    eventType: p.string(),
    channel: p.string(),
    subject: p.string().nullable(),
    body: p.text(),
    ...updatedAt,
  },
});

export class Template extends TemplateSchema.class {}
TemplateSchema.setClass(Template);
