import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A session of one tenant: the tenant filter keeps other tenants' rows out of every query. */
export const SessionSchema = defineEntity({
  name: 'Session',
  tableName: 'sessions',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The user who created it. */
    createdBy: p.uuid(),
    name: p.string(),
  },
});

export class Session extends SessionSchema.class {}
SessionSchema.setClass(Session);
