import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A content of one tenant: the tenant filter keeps other tenants' rows out of every query. */
export const ContentSchema = defineEntity({
  name: 'Content',
  tableName: 'contents',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The user who created it. */
    createdBy: p.uuid(),
    name: p.string(),
  },
});

export class Content extends ContentSchema.class {}
ContentSchema.setClass(Content);
