import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A stream asset of one tenant: the tenant filter keeps other tenants' rows out of every query. */
export const StreamAssetSchema = defineEntity({
  name: 'StreamAsset',
  tableName: 'stream_assets',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The user who created it. */
    createdBy: p.uuid(),
    name: p.string(),
  },
});

export class StreamAsset extends StreamAssetSchema.class {}
StreamAssetSchema.setClass(StreamAsset);
