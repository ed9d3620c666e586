import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** One immutable version of a content's metadata: an edit adds a version, and never changes one. */
export const ContentVersionSchema = defineEntity({
  name: 'ContentVersion',
  tableName: 'content_versions',
  filters: tenantFilter(),
  uniques: [{ properties: ['contentId', 'number'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    contentId: p.uuid(),
    number: p.integer(),
    title: p.string().length(200),
    description: p.text().nullable(),
    tags: p.array(),
    language: p.string().length(35),
    durationSeconds: p.integer().nullable(),
    createdBy: p.uuid(),
  },
});

export class ContentVersion extends ContentVersionSchema.class {}
ContentVersionSchema.setClass(ContentVersion);
