import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** An organisation, the tenant its users act in: its id and its tenant id are one. */
export const OrganisationSchema = defineEntity({
  name: 'Organisation',
  tableName: 'organisations',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().unique(),
    name: p.string(),
  },
});

export class Organisation extends OrganisationSchema.class {}
OrganisationSchema.setClass(Organisation);
