import { defineEntity, p } from '@mikro-orm/postgresql';

/** Which channels a user wants for an event type; the `*` row is their default. */
export const PreferenceSchema = defineEntity({
  name: 'Preference',
  tableName: 'notification_preferences',
  uniques: [{ properties: ['userId', 'eventType'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    tenantId: p.uuid(),
    userId: p.uuid(),
    eventType: p.string(),
    channels: p.array(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export class Preference extends PreferenceSchema.class {}
PreferenceSchema.setClass(Preference);
