import { entityId, tenantFilter, tenantId, updatedAt } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** Which channels a user wants for an event type in a tenant; the `*` row is their default. */
export const PreferenceSchema = defineEntity({
  name: 'Preference',
  tableName: 'notification_preferences',
  filters: tenantFilter(),
  uniques: [{ properties: ['tenantId', 'userId', 'eventType'] }],
  properties: {
    ...entityId,
    ...tenantId,
    userId: p.uuid(),
    eventType: p.string(),
    channels: p.array(),
    ...updatedAt,
  },
});

export class Preference extends PreferenceSchema.class {}
PreferenceSchema.setClass(Preference);
