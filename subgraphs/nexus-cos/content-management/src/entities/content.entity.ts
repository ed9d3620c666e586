import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { ContentStatus } from '../domain/lifecycle.ts';

/**
 * A content of one tenant: its place in the lifecycle and which of its versions are current and published. The tenant
 * filter keeps other tenants' rows out of every query.
 */
export const ContentSchema = defineEntity({
  name: 'Content',
  tableName: 'contents',
  filters: tenantFilter(),
  indexes: [{ properties: ['tenantId', 'createdAt'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    /** The user who created it: the creator, who may edit and submit it. */
    creatorId: p.uuid(),
    status: p.string().$type<ContentStatus>(),
    currentVersionNumber: p.integer(),
    /** The version viewers see, fixed when it is published. */
    publishedVersionNumber: p.integer().nullable(),
    rejectionReason: p.text().nullable(),
    updatedAt: p.datetime(),
    publishedAt: p.datetime().nullable(),
  },
});

export class Content extends ContentSchema.class {}
ContentSchema.setClass(Content);
