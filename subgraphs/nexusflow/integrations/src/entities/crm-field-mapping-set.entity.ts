import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { ConflictPolicy, FieldMappingEntry } from '../domain/sync/mappings.ts';

/** The saved field mappings of one kind of record through one integration; without a row, the defaults apply. */
export const CrmFieldMappingSetSchema = defineEntity({
  name: 'CrmFieldMappingSet',
  tableName: 'crm_field_mapping_sets',
  filters: tenantFilter(),
  uniques: [{ properties: ['integrationId', 'objectType'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    integrationId: p.uuid(),
    objectType: p.string(),
    mappings: p.json<FieldMappingEntry[]>(),
    conflictPolicy: p.string().$type<ConflictPolicy>(),
    savedBy: p.uuid(),
  },
});

export class CrmFieldMappingSet extends CrmFieldMappingSetSchema.class {}
CrmFieldMappingSetSchema.setClass(CrmFieldMappingSet);
