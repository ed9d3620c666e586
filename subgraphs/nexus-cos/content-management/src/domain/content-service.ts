import { LockMode } from '@mikro-orm/core';
import {
  badUserInput,
  forbidden,
  pageSize,
  parseInput,
  requireRole,
  requireUuid,
  WRITER_ROLES,
  type EntityManager,
  type Identity,
} from '@nexusflow/kit';
import { z } from 'zod';
import { ContentVersion } from '../entities/content-version.entity.ts';
import { Content } from '../entities/content.entity.ts';
import { RightsWindow } from '../entities/rights-window.entity.ts';
import {
  contentMetadataSchema,
  reasonSchema,
  regionSchema,
  rightsWindowSchema,
  type ContentMetadata,
  type RightsWindowGrant,
} from './inputs.ts';
import {
  isReviewer,
  refusedEdit,
  refusedTransition,
  REVIEWER_ROLES,
  type ContentStatus,
  type InvalidContentTransition,
} from './lifecycle.ts';

const MAX_PAGE = 100;
const MAX_WINDOWS_AT_PUBLICATION = 20;
const MAX_WINDOWS_PER_CONTENT = 50;

type User = Extract<Identity, { kind: 'user' }>;

export interface ContentNotFound {
  __typename: 'ContentNotFound';
  id: string;
}

export type ContentChange = Content | ContentNotFound | InvalidContentTransition;

export type PlaybackRefusal = 'NOT_FOUND' | 'NOT_PUBLISHED' | 'OUTSIDE_RIGHTS_WINDOW' | 'REGION_NOT_LICENSED';

export interface ContentPlayability {
  contentId: string;
  playable: boolean;
  refusal: PlaybackRefusal | null;
  title: string | null;
  durationSeconds: number | null;
  availableUntil: Date | null;
}

/** A change applied to a locked content: a typed refusal, or null once it is applied. */
type Change = (content: Content, tx: EntityManager) => Promise<InvalidContentTransition | null> | InvalidContentTransition | null;

/**
 * The contents of the caller's tenant, their lifecycle, versions and rights windows: the request's unit of work sees no
 * other tenant's. Creators (OWNER, ADMIN or MEMBER) create, edit and submit their own contents; reviewers (ADMIN, OWNER)
 * approve, reject, publish, archive and grant rights, and may also edit and submit anyone's.
 */
export class ContentService {
  constructor(private readonly now: () => Date) {}

  async list(em: EntityManager, first: number, status: ContentStatus | null | undefined): Promise<Content[]> {
    const limit = pageSize(first, MAX_PAGE);
    if (limit === 0) return [];
    return em.find(Content, status ? { status } : {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  /** A DRAFT with its first version; needs a writer role (a VIEWER is FORBIDDEN, an anonymous caller UNAUTHENTICATED). */
  async create(em: EntityManager, identity: Identity, input: unknown): Promise<Content> {
    const caller = requireRole(identity, WRITER_ROLES);
    const metadata = parseInput(contentMetadataSchema, input, ['input']);
    const now = this.now();
    const content = em.create(Content, {
      tenantId: caller.tenantId,
      creatorId: caller.userId,
      status: 'DRAFT',
      currentVersionNumber: 1,
      createdAt: now,
      updatedAt: now,
    });
    this.addVersion(em, caller, content, metadata);
    await em.flush();
    return content;
  }

  /** A new version of a DRAFT's metadata, by its creator or a reviewer. */
  async updateMetadata(em: EntityManager, identity: Identity, id: string, input: unknown): Promise<ContentChange> {
    const caller = requireRole(identity, WRITER_ROLES);
    const metadata = parseInput(contentMetadataSchema, input, ['input']);
    return this.change(em, id, (content, tx) => {
      this.requireCreatorOrReviewer(caller, content);
      const refused = refusedEdit(content.status);
      if (refused) return refused;
      content.currentVersionNumber += 1;
      this.addVersion(tx, caller, content, metadata);
      return null;
    });
  }

  async submit(em: EntityManager, identity: Identity, id: string): Promise<ContentChange> {
    const caller = requireRole(identity, WRITER_ROLES);
    return this.change(em, id, (content) => {
      this.requireCreatorOrReviewer(caller, content);
      return this.moveTo(content, 'IN_REVIEW');
    });
  }

  async approve(em: EntityManager, identity: Identity, id: string): Promise<ContentChange> {
    requireRole(identity, REVIEWER_ROLES);
    return this.change(em, id, (content) => this.moveTo(content, 'APPROVED'));
  }

  async reject(em: EntityManager, identity: Identity, id: string, reason: unknown): Promise<ContentChange> {
    requireRole(identity, REVIEWER_ROLES);
    const why = parseInput(reasonSchema, reason, ['reason']);
    return this.change(em, id, (content) => {
      const refused = this.moveTo(content, 'DRAFT');
      if (!refused) content.rejectionReason = why;
      return refused;
    });
  }

  /** APPROVED → PUBLISHED: the current version becomes the one viewers see, with the rights windows granted with it. */
  async publish(em: EntityManager, identity: Identity, id: string, windows: unknown): Promise<ContentChange> {
    const caller = requireRole(identity, REVIEWER_ROLES);
    const grants = parseInput(
      z.array(rightsWindowSchema).max(MAX_WINDOWS_AT_PUBLICATION, `must hold at most ${MAX_WINDOWS_AT_PUBLICATION} windows`),
      windows ?? [],
      ['rightsWindows'],
    );
    return this.change(em, id, (content, tx) => {
      const refused = this.moveTo(content, 'PUBLISHED');
      if (refused) return refused;
      content.publishedVersionNumber = content.currentVersionNumber;
      content.publishedAt = this.now();
      for (const grant of grants) this.addWindow(tx, caller, content, grant);
      return null;
    });
  }

  async archive(em: EntityManager, identity: Identity, id: string): Promise<ContentChange> {
    requireRole(identity, REVIEWER_ROLES);
    return this.change(em, id, (content) => this.moveTo(content, 'ARCHIVED'));
  }

  async addRightsWindow(em: EntityManager, identity: Identity, contentId: string, input: unknown): Promise<Content | ContentNotFound> {
    const caller = requireRole(identity, REVIEWER_ROLES);
    const grant = parseInput(rightsWindowSchema, input, ['input']);
    return this.changeWindows(em, contentId, async (content, tx) => {
      if ((await tx.count(RightsWindow, { contentId: content.id })) >= MAX_WINDOWS_PER_CONTENT) {
        throw badUserInput(`"contentId" already has ${MAX_WINDOWS_PER_CONTENT} rights windows`, { field: 'contentId' });
      }
      this.addWindow(tx, caller, content, grant);
    });
  }

  /** Removing a window the content does not have changes nothing. */
  async removeRightsWindow(em: EntityManager, identity: Identity, contentId: string, windowId: string): Promise<Content | ContentNotFound> {
    requireRole(identity, REVIEWER_ROLES);
    requireUuid(windowId, 'windowId');
    return this.changeWindows(em, contentId, async (content, tx) => {
      await tx.nativeDelete(RightsWindow, { id: windowId, contentId: content.id });
    });
  }

  /**
   * Whether a content may be played at `at` in `region`: PUBLISHED, with a rights window for the region open then. What
   * streamcore asks before it signs a playback URL.
   */
  async playability(em: EntityManager, contentId: string, regionInput: unknown, at: Date | null | undefined): Promise<ContentPlayability> {
    requireUuid(contentId, 'contentId');
    const region = parseInput(regionSchema, regionInput, ['region']);
    const when = at ?? this.now();
    const refused = (refusal: PlaybackRefusal): ContentPlayability => ({
      contentId,
      playable: false,
      refusal,
      title: null,
      durationSeconds: null,
      availableUntil: null,
    });
    const content = await em.findOne(Content, { id: contentId });
    if (!content) return refused('NOT_FOUND');
    if (content.status !== 'PUBLISHED' || content.publishedVersionNumber === null) return refused('NOT_PUBLISHED');
    const open = (await em.find(RightsWindow, { contentId })).filter(
      (window) => window.startsAt <= when && (!window.endsAt || when < window.endsAt),
    );
    if (open.length === 0) return refused('OUTSIDE_RIGHTS_WINDOW');
    const licensed = open.filter((window) => window.regions.includes(region));
    if (licensed.length === 0) return refused('REGION_NOT_LICENSED');
    const version = await em.findOneOrFail(ContentVersion, { contentId, number: content.publishedVersionNumber });
    const ends = licensed.map((window) => window.endsAt ?? null);
    return {
      contentId,
      playable: true,
      refusal: null,
      title: version.title,
      durationSeconds: version.durationSeconds ?? null,
      availableUntil: ends.includes(null) ? null : new Date(Math.max(...ends.map((end) => end!.getTime()))),
    };
  }

  private moveTo(content: Content, to: ContentStatus): InvalidContentTransition | null {
    const refused = refusedTransition(content.status, to);
    if (refused) return refused;
    content.status = to;
    if (to === 'IN_REVIEW') content.rejectionReason = null;
    return null;
  }

  private requireCreatorOrReviewer(caller: User, content: Content): void {
    if (content.creatorId !== caller.userId && !isReviewer(caller)) throw forbidden('Only its creator, an ADMIN or an OWNER may do this');
  }

  private addVersion(em: EntityManager, caller: User, content: Content, metadata: ContentMetadata): void {
    em.create(ContentVersion, {
      tenantId: caller.tenantId,
      contentId: content.id,
      number: content.currentVersionNumber,
      createdBy: caller.userId,
      createdAt: this.now(),
      ...metadata,
    });
  }

  private addWindow(em: EntityManager, caller: User, content: Content, grant: RightsWindowGrant): void {
    em.create(RightsWindow, { tenantId: caller.tenantId, contentId: content.id, createdAt: this.now(), ...grant });
  }

  /** Applies `apply` to the content locked for the transaction, so that two reviewers never both move it. */
  private async change(em: EntityManager, id: string, apply: Change): Promise<ContentChange> {
    requireUuid(id, 'id');
    return em.transactional(async (tx) => {
      const content = await tx.findOne(Content, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!content) return { __typename: 'ContentNotFound' as const, id };
      const refused = await apply(content, tx);
      if (refused) return refused;
      content.updatedAt = this.now();
      return content;
    });
  }

  private async changeWindows(
    em: EntityManager,
    contentId: string,
    apply: (content: Content, tx: EntityManager) => Promise<void>,
  ): Promise<Content | ContentNotFound> {
    requireUuid(contentId, 'contentId');
    return em.transactional(async (tx) => {
      const content = await tx.findOne(Content, { id: contentId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!content) return { __typename: 'ContentNotFound' as const, id: contentId };
      await apply(content, tx);
      content.updatedAt = this.now();
      return content;
    });
  }
}
