import { parseInput, requireRole, requireUuid, WRITER_ROLES, type EntityManager, type Identity } from '@nexusflow/kit';
import { z } from 'zod';
import { isOriginKey } from '../cdn/origin-store.ts';
import { MediaAsset } from '../entities/media-asset.entity.ts';
import { Rendition } from '../entities/rendition.entity.ts';
import type { ContentCatalog } from './content-catalog.ts';
import { DASH_MANIFEST, MASTER_PLAYLIST } from './manifests.ts';

/** streamcore's side of a Content: its id; its fields come from loaders. */
export interface ContentMedia {
  id: string;
}

export interface RenditionsRegistered {
  __typename: 'RenditionsRegistered';
  content: ContentMedia;
}

export interface StreamContentNotFound {
  __typename: 'StreamContentNotFound';
  contentId: string;
}

const MAX_RENDITIONS_AT_ONCE = 16;
const RESERVED_NAMES = new Set([MASTER_PLAYLIST, DASH_MANIFEST]);

/** RFC 6381 codec identifiers such as `avc1.64001f` or `mp4a.40.2`, comma-separated. */
const codecsSchema = z
  .string()
  .trim()
  .regex(
    /^[A-Za-z0-9]{4}(\.[A-Za-z0-9]+)*(,\s*[A-Za-z0-9]{4}(\.[A-Za-z0-9]+)*)*$/,
    'must be RFC 6381 codecs such as "avc1.64001f,mp4a.40.2"',
  )
  .transform((codecs) => codecs.replace(/\s+/g, ''));

const renditionSchema = z.object({
  label: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._-]{1,32}$/, "must be 1 to 32 letters, digits, '.', '_' or '-'"),
  width: z.number().int().min(16, 'must be at least 16').max(7680, 'must be at most 7680'),
  height: z.number().int().min(16, 'must be at least 16').max(4320, 'must be at most 4320'),
  bandwidth: z.number().int().min(1000, 'must be at least 1000').max(200_000_000, 'must be at most 200000000'),
  codecs: codecsSchema,
  segmentDurationSeconds: z.number().min(0.5, 'must be at least 0.5').max(30, 'must be at most 30'),
  segmentCount: z.number().int().min(1, 'must be at least 1').max(100_000, 'must be at most 100000'),
  storageKey: z
    .string()
    .trim()
    .refine(
      (key) => isOriginKey(key) && key.split('/').length <= 8 && !RESERVED_NAMES.has(key.split('/')[0]!),
      "must be a relative path of 1 to 8 parts of letters, digits, '.', '_' or '-'",
    ),
});

const renditionsSchema = z
  .array(renditionSchema)
  .min(1, 'must hold at least one rendition')
  .max(MAX_RENDITIONS_AT_ONCE, `must hold at most ${MAX_RENDITIONS_AT_ONCE} renditions`)
  .refine((renditions) => new Set(renditions.map((rendition) => rendition.label)).size === renditions.length, 'must not repeat a label');

/** The renditions of the caller's tenant's contents, as the packager registers them. */
export class MediaLibrary {
  constructor(
    private readonly catalog: ContentCatalog,
    private readonly now: () => Date,
  ) {}

  /** Needs a writer role; the content must exist in the caller's tenant (content-management says). */
  async register(
    em: EntityManager,
    identity: Identity,
    contentId: string,
    input: unknown,
  ): Promise<RenditionsRegistered | StreamContentNotFound> {
    const caller = requireRole(identity, WRITER_ROLES);
    requireUuid(contentId, 'contentId');
    const renditions = parseInput(renditionsSchema, input, ['renditions']);
    if (!(await this.catalog.exists(identity, contentId))) return { __typename: 'StreamContentNotFound', contentId };
    const registeredAt = this.now();
    await em.transactional(async (tx) => {
      if (!(await tx.findOne(MediaAsset, { contentId })))
        tx.create(MediaAsset, { tenantId: caller.tenantId, contentId, createdAt: registeredAt });
      const existing = new Map(
        (await tx.find(Rendition, { contentId, label: { $in: renditions.map((rendition) => rendition.label) } })).map((row) => [
          row.label,
          row,
        ]),
      );
      for (const { segmentDurationSeconds, ...rendition } of renditions) {
        const values = { ...rendition, segmentDurationMs: Math.round(segmentDurationSeconds * 1000), registeredAt };
        const row = existing.get(rendition.label);
        if (row) tx.assign(row, values);
        else tx.create(Rendition, { tenantId: caller.tenantId, contentId, createdAt: registeredAt, ...values });
      }
    });
    return { __typename: 'RenditionsRegistered', content: { id: contentId } };
  }
}
