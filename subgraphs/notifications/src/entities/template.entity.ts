import { defineEntity, p } from '@mikro-orm/postgresql';

/** A tenant's wording for one event type on one channel, with `{{variable}}` placeholders. */
export const TemplateSchema = defineEntity({
  name: 'Template',
  tableName: 'notification_templates',
  uniques: [{ properties: ['tenantId', 'eventType', 'channel'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    tenantId: p.uuid(),
    eventType: p.string(),
    channel: p.string(),
    subject: p.string().nullable(),
    body: p.text(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export class Template extends TemplateSchema.class {}
TemplateSchema.setClass(Template);
