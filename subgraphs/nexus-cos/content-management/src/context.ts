import type { SubgraphContext } from '@nexusflow/kit';
import type { ContentService } from './domain/content-service.ts';
import type { ContentManagementLoaders } from './loaders.ts';

export interface ContentManagementServices {
  contents: ContentService;
}

export type ContentManagementContext = SubgraphContext<ContentManagementLoaders, ContentManagementServices>;
