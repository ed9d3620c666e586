import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A time range and the regions in which a published content may be played. */
export const RightsWindowSchema = defineEntity({
  name: 'RightsWindow',
  tableName: 'rights_windows',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    contentId: p.uuid().index(),
    startsAt: p.datetime(),
    /** Null: the window never closes. */
    endsAt: p.datetime().nullable(),
    /** ISO 3166-1 alpha-2 codes, upper case. */
    regions: p.array(),
  },
});

export class RightsWindow extends RightsWindowSchema.class {}
RightsWindowSchema.setClass(RightsWindow);
