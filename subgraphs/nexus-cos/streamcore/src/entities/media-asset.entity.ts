import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * What streamcore holds of one content of content-management: made when its first renditions are registered. Its tenant
 * is the content's, so that another tenant's reference to the content resolves to nothing here.
 */
export const MediaAssetSchema = defineEntity({
  name: 'MediaAsset',
  tableName: 'media_assets',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    contentId: p.uuid().unique(),
  },
});

export class MediaAsset extends MediaAssetSchema.class {}
MediaAssetSchema.setClass(MediaAsset);
