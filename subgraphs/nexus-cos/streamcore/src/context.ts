import type { Database, PubSub, SubgraphContext } from '@nexusflow/kit';
import type { OriginStore } from './cdn/origin-store.ts';
import type { MediaLibrary } from './domain/media.ts';
import type { Playback } from './domain/playback.ts';
import type { ViewCounts } from './domain/view-counts.ts';
import type { StreamcoreLoaders } from './loaders.ts';

export interface StreamcoreServices {
  database: Database;
  media: MediaLibrary;
  playback: Playback;
  viewCounts: ViewCounts;
  /** The fan-out of viewer-count signals between instances. */
  live: PubSub;
  /** Where the edge finds segments and manifests. */
  origin: OriginStore;
  /** The time the service goes by, in ms since the epoch. */
  clock: () => number;
}

export type StreamcoreContext = SubgraphContext<StreamcoreLoaders, StreamcoreServices>;
