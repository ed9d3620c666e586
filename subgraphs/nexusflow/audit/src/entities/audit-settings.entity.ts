import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A tenant's retention and legal hold; no row means entries are kept forever and no hold is in force. */
export const AuditSettingsSchema = defineEntity({
  name: 'AuditSettings',
  tableName: 'audit_settings',
  filters: tenantFilter(),
  properties: {
    tenantId: p.uuid().primary(),
    retentionDays: p.integer().nullable(),
    legalHoldReason: p.text().nullable(),
    legalHoldPlacedAt: p.datetime().nullable(),
    legalHoldPlacedBy: p.uuid().nullable(),
  },
});

export class AuditSettings extends AuditSettingsSchema.class {}
AuditSettingsSchema.setClass(AuditSettings);
