import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** One quality of a content's ladder: CMAF segments `init.mp4`, `segment-1.m4s`… under its storage key in the origin. */
export const RenditionSchema = defineEntity({
  name: 'Rendition',
  tableName: 'renditions',
  filters: tenantFilter(),
  uniques: [{ properties: ['contentId', 'label'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    contentId: p.uuid(),
    label: p.string().length(32),
    width: p.integer(),
    height: p.integer(),
    bandwidth: p.integer(),
    codecs: p.string().length(200),
    /** Whole milliseconds: exact, where a float of seconds is not. */
    segmentDurationMs: p.integer(),
    segmentCount: p.integer(),
    storageKey: p.string(),
    registeredAt: p.datetime(),
  },
});

export class Rendition extends RenditionSchema.class {}
RenditionSchema.setClass(Rendition);
