import { callSubgraph, type Identity } from '@nexusflow/kit';
import {
  ContentExistsDocument,
  ContentPlayabilityDocument,
  type ContentPlayabilityQuery,
} from '../__generated__/content-management-operations.ts';

export type ContentPlayability = ContentPlayabilityQuery['contentPlayability'];

/**
 * What streamcore asks content-management, for the caller (so in the caller's tenant): whether a content exists, and
 * whether it may be played at a time in a region.
 */
export class ContentCatalog {
  constructor(
    private readonly url: string,
    private readonly internalSecret: string,
    private readonly clock: () => number,
  ) {}

  async exists(identity: Identity, contentId: string): Promise<boolean> {
    const { content } = await callSubgraph({
      url: this.url,
      query: ContentExistsDocument,
      variables: { id: contentId },
      identity,
      internalSecret: this.internalSecret,
      now: this.clock,
    });
    return content !== null;
  }

  async playability(identity: Identity, contentId: string, region: string, at: Date): Promise<ContentPlayability> {
    const { contentPlayability } = await callSubgraph({
      url: this.url,
      query: ContentPlayabilityDocument,
      variables: { contentId, region, at: at.toISOString() },
      identity,
      internalSecret: this.internalSecret,
      now: this.clock,
    });
    return contentPlayability;
  }
}
